package conformance

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"

	"github.com/tinyprof/tinyprof/firmware"
)

// upload is one model upload in progress.
type upload struct {
	s      *session
	data   []byte
	chunk  int
	window int
	acked  uint32 // the device's last cumulative acknowledgement
}

// begin sends MODEL_BEGIN and checks the MODEL_ACK.
func (s *session) begin(ctx context.Context, sum [32]byte, data []byte) (*upload, error) {
	ack, err := expect[*firmware.ModelAck](ctx, s, &firmware.ModelBegin{
		Size: uint32(len(data)), SHA256: sum, ChunkSize: s.opts.ChunkSize, Window: s.opts.Window, Name: s.opts.ModelName,
	})
	if err != nil {
		return nil, err
	}
	switch {
	case int(ack.Offset) > len(data):
		return nil, fmt.Errorf("MODEL_ACK offset %d beyond the %d-byte model", ack.Offset, len(data))
	case ack.ChunkSize == 0 || ack.ChunkSize > s.opts.ChunkSize || int(ack.ChunkSize)+4 > s.maxPayload:
		return nil, fmt.Errorf("MODEL_ACK chunk_size %d, want 1…%d", ack.ChunkSize, min(int(s.opts.ChunkSize), s.maxPayload-4))
	case ack.Window == 0 || ack.Window > s.opts.Window:
		return nil, fmt.Errorf("MODEL_ACK window %d, want 1…%d", ack.Window, s.opts.Window)
	}
	return &upload{s: s, data: data, chunk: int(ack.ChunkSize), window: int(ack.Window), acked: ack.Offset}, nil
}

// send sends the chunk at off, cut at limit, and returns its seq.
func (u *upload) send(off, limit int) (uint16, error) {
	end := min(off+u.chunk, limit)
	return u.s.send(&firmware.ModelChunk{Offset: uint32(off), Data: u.data[off:end]})
}

// await waits for the MODEL_ACK answering seq and records its offset.
func (u *upload) await(ctx context.Context, seq uint16) error {
	m, err := u.s.frame(ctx, seq, u.s.opts.Timeout)
	if err != nil {
		return fmt.Errorf("MODEL_CHUNK (seq %d): %w", seq, err)
	}
	ack, ok := m.(*firmware.ModelAck)
	if !ok {
		return fmt.Errorf("MODEL_CHUNK answered with %s, want MODEL_ACK", describe(m))
	}
	if ack.Offset < u.acked || int(ack.Offset) > len(u.data) {
		return fmt.Errorf("cumulative MODEL_ACK went from %d to %d (model of %d bytes)", u.acked, ack.Offset, len(u.data))
	}
	u.acked = ack.Offset
	return nil
}

// transfer sends windows of chunks from the last acknowledgement until
// the device holds limit bytes, going back to the acknowledged offset
// after every window (go-back-N).
func (u *upload) transfer(ctx context.Context, limit int) error {
	for stalls := 0; int(u.acked) < limit; {
		before := u.acked
		var seqs []uint16
		for off := int(u.acked); len(seqs) < u.window && off < limit; off += u.chunk {
			seq, err := u.send(off, limit)
			if err != nil {
				return err
			}
			seqs = append(seqs, seq)
		}
		for _, seq := range seqs {
			if err := u.await(ctx, seq); err != nil {
				return err
			}
		}
		if u.acked == before {
			if stalls++; stalls == 3 {
				return fmt.Errorf("device acknowledges no progress past offset %d", u.acked)
			}
		}
	}
	return nil
}

// skipOne sends the chunk at the acknowledged offset and then the one
// after the next, which the device must drop and answer with an unchanged
// offset.
func (u *upload) skipOne(ctx context.Context) error {
	first := int(u.acked)
	s1, err := u.send(first, len(u.data))
	if err != nil {
		return err
	}
	s2, err := u.send(first+2*u.chunk, len(u.data))
	if err != nil {
		return err
	}
	if err := u.await(ctx, s1); err != nil {
		return err
	}
	want := u.acked
	if err := u.await(ctx, s2); err != nil {
		return err
	}
	if u.acked != want {
		return fmt.Errorf("a chunk at offset %d after a gap at %d was acknowledged up to %d, want %d (drop it)", first+2*u.chunk, first+u.chunk, u.acked, want)
	}
	return nil
}

// end sends MODEL_END and returns the answer.
func (u *upload) end(ctx context.Context) (firmware.Message, error) {
	_, m, err := u.s.request(ctx, &firmware.ModelEnd{})
	return m, err
}

func checkUpload(ctx context.Context, s *session) error {
	model := s.opts.Model
	sum := sha256.Sum256(model)
	var errs []error
	s.loaded = false

	if err := expectError(ctx, s, &firmware.ModelBegin{Size: 0xFFFFFFFF, SHA256: sum, ChunkSize: s.opts.ChunkSize, Window: s.opts.Window, Name: "huge.bin"},
		firmware.CodeModelTooLarge); err != nil {
		errs = append(errs, fmt.Errorf("MODEL_BEGIN of 4 GiB: %w", err))
	}

	wrong := sum
	wrong[0] ^= 0xFF
	if err := uploadWrongSum(ctx, s, wrong, model); err != nil {
		errs = append(errs, fmt.Errorf("upload under a wrong SHA-256: %w", err))
	}

	if err := uploadResumed(ctx, s, sum, model); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

func uploadWrongSum(ctx context.Context, s *session, wrong [32]byte, model []byte) error {
	u, err := s.begin(ctx, wrong, model)
	if err != nil {
		return err
	}
	if err := u.transfer(ctx, len(model)); err != nil {
		return err
	}
	m, err := u.end(ctx)
	if err != nil {
		return err
	}
	if e, ok := m.(*firmware.Error); ok {
		return checkError(e, firmware.CodeBadChecksum, firmware.TypeModelEnd)
	}
	return fmt.Errorf("MODEL_END answered with %s, want ERROR(bad checksum)", describe(m))
}

// uploadResumed uploads model with a dropped chunk in the middle and a
// second MODEL_BEGIN half way, which must resume at the acknowledged offset.
func uploadResumed(ctx context.Context, s *session, sum [32]byte, model []byte) error {
	u, err := s.begin(ctx, sum, model)
	if err != nil {
		return err
	}
	if int(u.acked)+3*u.chunk < len(model) {
		if err := u.skipOne(ctx); err != nil {
			return fmt.Errorf("go-back-N: %w", err)
		}
	}
	if err := u.transfer(ctx, len(model)/2); err != nil {
		return err
	}
	r, err := s.begin(ctx, sum, model)
	if err != nil {
		return fmt.Errorf("resuming MODEL_BEGIN: %w", err)
	}
	if r.acked != u.acked {
		return fmt.Errorf("resuming MODEL_BEGIN acknowledged offset %d, want %d (the bytes already held)", r.acked, u.acked)
	}
	if err := r.transfer(ctx, len(model)); err != nil {
		return err
	}
	m, err := r.end(ctx)
	if err != nil {
		return err
	}
	switch m := m.(type) {
	case *firmware.ModelDone:
		if m.SHA256 != sum {
			return fmt.Errorf("MODEL_DONE sha256 %x, want %x", m.SHA256, sum)
		}
		if !m.Region.Valid() {
			return fmt.Errorf("MODEL_DONE region %d, want 1…3", m.Region)
		}
		s.loaded = true
		// PROTOCOL.md 3.4: a host whose MODEL_DONE was lost sends MODEL_END
		// again and must get the same answer.
		_, again, err := s.request(ctx, &firmware.ModelEnd{})
		if err != nil {
			return fmt.Errorf("repeated MODEL_END: %w", err)
		}
		if d, ok := again.(*firmware.ModelDone); !ok || d.SHA256 != sum {
			return fmt.Errorf("repeated MODEL_END answered with %s, want the loaded model's MODEL_DONE", describe(again))
		}
		return nil
	case *firmware.Error:
		if m.Code == firmware.CodeUnsupportedFormat && m.Request == firmware.TypeModelEnd && s.opts.AllowUnsupportedFormat {
			return nil
		}
		return fmt.Errorf("MODEL_END of a correct upload answered with %s", describe(m))
	}
	return fmt.Errorf("MODEL_END answered with %s, want MODEL_DONE", describe(m))
}
