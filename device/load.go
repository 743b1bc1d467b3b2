package device

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"time"

	"github.com/tinyprof/tinyprof/firmware"
)

// LoadOptions configures LoadModel. The zero value is usable.
type LoadOptions struct {
	// Name is sent to the board for its log. Default "model".
	Name string
	// ChunkSize is the proposed payload bytes per chunk; the board may
	// lower it. Default: the negotiated maximum payload less the offset.
	ChunkSize int
	// Window is the proposed number of chunks in flight. Default 4.
	Window int
	// Progress, if set, is called with bytes acknowledged so far and the
	// total, from the calling goroutine.
	Progress func(done, total int64)
}

// LoadResult describes a model the board verified and loaded.
type LoadResult struct {
	SHA256     [32]byte
	Size       int64
	Resumed    int64  // bytes the board already held from an earlier, interrupted upload
	Region     string // where the weights live: "sram", "psram" or "flash"
	Bytes      int64  // bytes the weights occupy there
	Parameters int64
	Rewinds    int // times the upload went back after a lost chunk
	Duration   time.Duration
}

// LoadModel uploads size bytes from r to the board in windowed, acknowledged
// chunks, resuming where an interrupted upload of the same model stopped,
// and has the board verify the SHA-256 and load it.
func (d *Device) LoadModel(ctx context.Context, r io.ReaderAt, size int64, opts LoadOptions) (*LoadResult, error) {
	const op = "load model"
	start := time.Now()
	if size <= 0 || size > 1<<32-1 {
		return nil, d.errorf(op, CodeBadResponse, fmt.Errorf("model size %d bytes is outside 1 B–4 GiB", size), "")
	}
	h := sha256.New()
	if _, err := io.Copy(h, io.NewSectionReader(r, 0, size)); err != nil {
		return nil, fmt.Errorf("read model: %w", err)
	}
	var sum [32]byte
	copy(sum[:], h.Sum(nil))

	if opts.Name == "" {
		opts.Name = "model"
	}
	maxChunk := min(d.opts.MaxPayload, negotiatedPayload(d.Info())) - 4
	if opts.ChunkSize <= 0 || opts.ChunkSize > maxChunk {
		opts.ChunkSize = maxChunk
	}
	if opts.Window <= 0 {
		opts.Window = 4
	}

	c := d.begin()
	defer d.end(c)
	m, err := d.exchange(ctx, c, op, &firmware.ModelBegin{Size: uint32(size), SHA256: sum,
		ChunkSize: uint16(opts.ChunkSize), Window: uint8(min(opts.Window, 255)), Name: opts.Name}, firmware.TypeModelAck)
	if err != nil {
		return nil, err
	}
	ack := m.(*firmware.ModelAck)
	res := &LoadResult{SHA256: sum, Size: size, Resumed: int64(ack.Offset)}
	chunk := int64(min(int(ack.ChunkSize), opts.ChunkSize))
	window := int64(max(1, int(ack.Window)))
	if chunk <= 0 || int64(ack.Offset) > size {
		return nil, d.errorf(op, CodeBadResponse, fmt.Errorf("board acknowledged offset %d, chunk %d for a %d-byte model", ack.Offset, chunk, size), "")
	}

	acked, next := int64(ack.Offset), int64(ack.Offset)
	rewoundAt, stalls := int64(-1), 0
	buf := make([]byte, chunk)
	report := func() {
		if opts.Progress != nil {
			opts.Progress(acked, size)
		}
	}
	report()
	for acked < size {
		for next < size && next < acked+window*chunk {
			n := min(chunk, size-next)
			if _, err := r.ReadAt(buf[:n], next); err != nil && err != io.EOF {
				return nil, fmt.Errorf("read model at %d: %w", next, err)
			}
			if err := d.send(ctx, op, c.seq, &firmware.ModelChunk{Offset: uint32(next), Data: buf[:n]}); err != nil {
				return nil, err
			}
			next += n
		}
		in, err := d.recv(ctx, c, d.opts.Timeout)
		if err == errAttemptTimeout || in.bad {
			if err == errAttemptTimeout {
				stalls++
			}
			if stalls > d.opts.Retries {
				return nil, d.errorf(op, CodeTimeout, fmt.Errorf("no acknowledgement past offset %d after %d tries", acked, stalls),
					"the board stopped acknowledging; check its log")
			}
			if err == errAttemptTimeout || isDeviceBadFrame(in) {
				next, rewoundAt = acked, acked // go back: a chunk or its ack was lost
				res.Rewinds++
			}
			continue
		}
		if err != nil {
			return nil, d.errorf(op, CodeTimeout, err, fmt.Sprintf("upload stopped at %d of %d bytes; run it again to resume", acked, size))
		}
		if done, err := d.checkInbound(op, in); done {
			return nil, err
		}
		a, ok := in.msg.(*firmware.ModelAck)
		if !ok {
			continue
		}
		switch off := int64(a.Offset); {
		case off > acked && off <= next:
			acked, stalls, rewoundAt = off, 0, -1
			report()
		case off == acked && next > acked && rewoundAt != acked:
			next, rewoundAt = acked, acked // duplicate ack: a chunk was lost
			res.Rewinds++
		}
	}

	m, err = d.exchange(ctx, c, op, &firmware.ModelEnd{}, firmware.TypeModelDone)
	if err != nil {
		return nil, err
	}
	done := m.(*firmware.ModelDone)
	if !bytes.Equal(done.SHA256[:], sum[:]) {
		return nil, d.errorf(op, CodeBadResponse, fmt.Errorf("board verified SHA-256 %x, host sent %x", done.SHA256[:8], sum[:8]), "retry the upload")
	}
	res.Region = regionName(done.Region)
	res.Bytes, res.Parameters = int64(done.Bytes), int64(done.Parameters)
	res.Duration = time.Since(start)
	return res, nil
}

func isDeviceBadFrame(in inbound) bool {
	e, ok := in.err.(*firmware.Error)
	return ok && e.Code == firmware.CodeBadFrame
}

// checkInbound turns the terminal inbound events (closed, reset, device
// error, undecodable frame) into errors. done reports whether in was one.
func (d *Device) checkInbound(op string, in inbound) (done bool, err error) {
	switch {
	case in.closed:
		return true, d.wrap(op, in.err)
	case in.reset:
		return true, d.errorf(op, CodeBoardReset, nil, fmt.Sprintf("the board rebooted (boot id %08x), so its model and state are gone; check its power and log, then load the model again", in.msg.(*firmware.Info).BootID))
	case in.err != nil:
		return true, d.errorf(op, CodeBadResponse, in.err, "")
	}
	if e, ok := in.msg.(*firmware.Error); ok {
		return true, &Error{Op: op, Port: d.name, Code: CodeRemote, Err: e, Hint: remoteHint(e.Code)}
	}
	return false, nil
}

func negotiatedPayload(info *firmware.Info) int {
	if info != nil && info.MaxPayload > 0 {
		return int(info.MaxPayload)
	}
	return firmware.DefaultMaxPayload
}

func regionName(r uint8) string {
	switch r {
	case firmware.RegionSRAM:
		return "sram"
	case firmware.RegionPSRAM:
		return "psram"
	case firmware.RegionFlash:
		return "flash"
	}
	return fmt.Sprintf("region %d", r)
}
