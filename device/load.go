package device

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"math"
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
	sum, err := hashModel(ctx, r, size)
	if err != nil {
		return nil, err
	}

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
		ChunkSize: uint16(opts.ChunkSize), Window: uint8(min(opts.Window, 255)), Name: opts.Name}, firmware.TypeModelAck, 0)
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

	up := &uploader{d: d, op: op, size: size, acked: int64(ack.Offset), next: int64(ack.Offset), rewoundAt: -1,
		progress: opts.Progress, res: res, chunk: chunk, maxChunk: chunk, window: window, maxWindow: window, prevOK: -1}
	up.report()
	buf := make([]byte, chunk)
	for up.acked < size {
		for up.next < size && up.next < up.acked+up.inFlight() {
			// Take in what has arrived before writing more: a reader backed
			// up behind a full inbox stops draining the line, the board
			// then stops reading, and the write below would block forever.
			if err := up.drain(c); err != nil {
				return nil, err
			}
			if up.next >= size || up.next >= up.acked+up.inFlight() {
				break
			}
			n := min(up.chunk, size-up.next)
			if _, err := r.ReadAt(buf[:n], up.next); err != nil && err != io.EOF {
				return nil, fmt.Errorf("read model at %d: %w", up.next, err)
			}
			if err := d.send(ctx, op, c.Seq(), &firmware.ModelChunk{Offset: uint32(up.next), Data: buf[:n]}); err != nil {
				return nil, err
			}
			up.next += n
			up.high = max(up.high, up.next)
			up.sentOne()
		}
		if up.acked >= size {
			break
		}
		in, err := d.recv(ctx, c, d.opts.Timeout)
		switch {
		case err == errAttemptTimeout:
			if err := up.stalled(); err != nil {
				return nil, err
			}
		case err != nil:
			return nil, d.errorf(op, CodeTimeout, err, fmt.Sprintf("upload stopped at %d of %d bytes; run it again to resume", up.acked, size))
		default:
			if err := up.handle(in); err != nil {
				return nil, err
			}
		}
	}

	// Chunks still in flight may yet be reported corrupted, up to twice each
	// (a damaged delimiter splits a frame in two): not MODEL_END's fault.
	if err := up.drain(c); err != nil {
		return nil, err
	}
	m, err = d.exchange(ctx, c, op, &firmware.ModelEnd{}, firmware.TypeModelDone, 2*int(window))
	if err != nil {
		return nil, err
	}
	done := m.(*firmware.ModelDone)
	if !bytes.Equal(done.SHA256[:], sum[:]) {
		return nil, d.errorf(op, CodeBadResponse, fmt.Errorf("board verified SHA-256 %x, host sent %x", done.SHA256[:8], sum[:8]), "retry the upload")
	}
	if !done.Region.Valid() {
		// The weights are loaded, but where is unknown: a report would
		// print "region 7" in its weights-in line. Conformance rejects it.
		return nil, d.errorf(op, CodeBadResponse, fmt.Errorf("board loaded the model into unknown memory region %d", uint8(done.Region)),
			"MODEL_DONE must report region 1 (SRAM), 2 (PSRAM) or 3 (flash); update the firmware, or fix its port's tp_model_info.region")
	}
	res.Region = done.Region.String()
	res.Bytes, res.Parameters = int64(done.Bytes), int64(done.Parameters)
	res.Duration = time.Since(start)
	return res, nil
}

// hashModel streams size bytes of r through SHA-256, a megabyte at a
// time, so that a model is never held in memory whole, and stops when ctx
// ends: hashing a large file from a slow disk is not to outlast Ctrl-C.
func hashModel(ctx context.Context, r io.ReaderAt, size int64) ([32]byte, error) {
	var sum [32]byte
	h := sha256.New()
	buf := make([]byte, min(size, 1<<20))
	for off := int64(0); off < size; {
		if err := ctx.Err(); err != nil {
			return sum, fmt.Errorf("read model: %w", err)
		}
		n, err := r.ReadAt(buf[:min(int64(len(buf)), size-off)], off)
		h.Write(buf[:n])
		off += int64(n)
		if err == io.EOF && off < size {
			return sum, fmt.Errorf("read model: the file ended at %d of %d bytes (did it shrink?)", off, size)
		}
		if err != nil && err != io.EOF {
			return sum, fmt.Errorf("read model at %d: %w", off, err)
		}
	}
	copy(sum[:], h.Sum(nil))
	return sum, nil
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

// uploader is the host side of a windowed, cumulatively acknowledged
// upload (go-back-N): acked is what the board holds, next what comes next.
//
// It adapts to the line: each loss (a chunk the board reports corrupted,
// a repeated acknowledgement, a time-out) halves the chunk size and the
// window, down to minChunk and one chunk, and every cleanLosses clean
// acknowledgements grow them back, up to what MODEL_ACK allowed. With
// 0.1% of the bytes lost, a 1,020-byte chunk arrives whole a third of the
// time and a 128-byte one nine times in ten. A shrink that does not lower
// the losses per chunk (a line that loses whole frames) is undone for
// good. It gives up only when the
// smallest chunks make no progress: bad corrupted frames or stalls
// time-outs in a row without an acknowledgement moving forward.
type uploader struct {
	d         *Device
	op        string
	size      int64
	acked     int64
	next      int64
	rewoundAt int64 // the offset last gone back to, so one loss rewinds once
	stalls    int   // time-outs without progress
	bad       int   // corrupted frames without progress
	progress  func(done, total int64)
	res       *LoadResult

	chunk, maxChunk   int64
	window, maxWindow int64
	high              int64 // the furthest offset any chunk sent reached
	clean             int   // acknowledgements moving forward since the last loss
	sentSinceLoss     int   // chunks sent since the last shrink

	// Whether smaller chunks help: losses per chunk at the current size
	// and at the size before the last shrink. A line that loses whole
	// frames, whatever their size, loses as many small ones: then the
	// chunks go back to full size and stay there (fixed).
	sizeOK, sizeLost int     // acknowledgements that moved forward, and losses
	prevOK           float64 // share whole at the size before the last halving; -1: none
	fixed            bool
}

// judgeAfter is how many outcomes (chunks acknowledged or lost) of one
// chunk size are seen before the size is changed.
const judgeAfter = 12

// sentOne records a chunk sent.
func (u *uploader) sentOne() { u.sentSinceLoss++ }

// resize acts on the outcomes seen at the current chunk size, once there
// are enough of them (chunks lost with the rest of a window are not
// outcomes: go-back-N never learns how they would have fared). If fewer
// than okTarget arrived whole it halves the chunk; but if the last halving
// did not help, it goes back to the size before and stays there. Losses
// of bytes make a half-size chunk arrive whole with the square root of the
// full size's chance, losses of whole frames with the same chance: which
// the new size's share is nearer to tells them apart.
func (u *uploader) resize() {
	n := u.sizeOK + u.sizeLost
	if u.fixed || n < judgeAfter {
		return
	}
	ok := float64(u.sizeOK) / float64(n)
	if p := u.prevOK; p >= 0.2 && ok < (p+math.Sqrt(p))/2 {
		u.fixed, u.chunk = true, min(u.maxChunk, u.chunk*2)
		return
	}
	small := max(min(minChunk, u.maxChunk), u.chunk/2)
	if ok < okTarget && small < u.chunk {
		u.prevOK, u.chunk = ok, small
	}
	u.sizeOK, u.sizeLost = 0, 0
}

// okTarget is the share of chunks arriving whole below which the chunk
// shrinks: about the share at the best size for a line losing bytes at
// random (a chunk of sqrt(overhead/rate) bytes).
const okTarget = 0.85

// minChunk is the smallest chunk the upload shrinks to: below it the
// frame's 11 bytes of overhead dominate.
const minChunk = 32

// cleanLosses is how many clean acknowledgements grow the chunk back.
const cleanLosses = 8

// inFlight is how many bytes may be sent past the acknowledged offset.
func (u *uploader) inFlight() int64 { return u.window * u.chunk }

// lost shrinks the chunk and window after a loss, once per burst: the
// rest of a window lost with it reports the same loss again.
func (u *uploader) lost() {
	u.clean = 0
	if u.sentSinceLoss == 0 {
		return
	}
	u.sentSinceLoss = 0
	u.sizeLost++
	u.window = max(1, u.window/2)
	u.resize()
}

// advanced grows the chunk and window back after clean progress.
func (u *uploader) advanced() {
	u.sizeOK++
	u.resize()
	u.clean++
	if u.clean >= cleanLosses {
		u.clean = 0
		if u.chunk < u.maxChunk && !u.fixed {
			u.chunk, u.sizeOK, u.sizeLost, u.prevOK = min(u.maxChunk, u.chunk*2), 0, 0, -1
		}
		u.window = min(u.maxWindow, u.window+1)
	}
}

// atFloor reports whether the upload cannot shrink further.
func (u *uploader) atFloor() bool {
	return (u.fixed || u.chunk <= min(minChunk, u.maxChunk)) && u.window == 1
}

func (u *uploader) report() {
	if u.progress != nil {
		u.progress(u.acked, u.size)
	}
}

// rewind goes back to the last acknowledged offset, once per offset.
func (u *uploader) rewind() {
	if u.rewoundAt != u.acked && u.next > u.acked {
		u.next, u.rewoundAt = u.acked, u.acked
		u.res.Rewinds++
		u.lost()
	}
}

// stalled handles a time-out: the window's chunks or their acks were lost.
func (u *uploader) stalled() error {
	u.stalls++
	if u.stalls > u.d.opts.Retries && u.bad > 0 && u.atFloor() {
		return u.d.errorf(u.op, CodeCRC, fmt.Errorf("%d corrupted frames and no acknowledgement past offset %d after %d tries", u.bad, u.acked, u.stalls),
			"check the cable, baud rate and ground")
	}
	if u.stalls > u.d.opts.Retries && (u.bad == 0 || u.stalls > 4*u.d.opts.Retries) {
		return u.d.errorf(u.op, CodeTimeout, fmt.Errorf("no acknowledgement past offset %d after %d tries", u.acked, u.stalls),
			"the board stopped acknowledging; check its log")
	}
	u.lost()
	u.next, u.rewoundAt = u.acked, u.acked // resend the window, even from the same offset
	u.res.Rewinds++
	return nil
}

// handle takes one inbound event.
func (u *uploader) handle(in inbound) error {
	if in.bad {
		u.bad++
		// Every chunk of a window may be hit before one gets through; only
		// the smallest chunks failing as often is hopeless.
		if u.bad > u.d.opts.Retries*16 && u.atFloor() {
			return u.d.errorf(u.op, CodeCRC, in.err, fmt.Sprintf("%d corrupted frames without progress past offset %d, in chunks of %d bytes; check the cable, baud rate and ground", u.bad, u.acked, u.chunk))
		}
		if isDeviceBadFrame(in) && u.next > u.acked {
			// The board lost one of our chunks: go back, even to an offset
			// gone back to before, as long as something was sent since.
			u.next, u.rewoundAt = u.acked, u.acked
			u.res.Rewinds++
			u.lost()
		}
		return nil
	}
	if done, err := u.d.checkInbound(u.op, in); done {
		return err
	}
	a, ok := in.msg.(*firmware.ModelAck)
	if !ok {
		return nil
	}
	switch off := int64(a.Offset); {
	case off > u.acked && off <= u.high:
		// Past next, too: the late ack of a chunk sent before a rewind.
		u.acked, u.stalls, u.bad, u.rewoundAt = off, 0, 0, -1
		u.next = max(u.next, off)
		u.advanced()
		u.report()
	case off == u.acked:
		u.rewind() // a duplicate ack: a chunk was lost
	}
	return nil
}

// drain handles every event already waiting, without blocking.
func (u *uploader) drain(c *call) error {
	for {
		select {
		case in := <-c.ch:
			if err := u.handle(in); err != nil {
				return err
			}
		default:
			return nil
		}
	}
}
