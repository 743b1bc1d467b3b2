// Package device is the host side of one board: it speaks the tinyprof wire
// protocol (package firmware) over a Transport — a serial port, a
// pseudo-terminal, an in-memory pipe — and turns the board's answers into
// typed results and typed errors.
//
// Open a board with Open (a serial port path) or New (any Transport), then
// call Hello before anything else. A Device runs one request at a time;
// its methods may be called from several goroutines and are serialised.
package device

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tinyprof/tinyprof/firmware"
	"github.com/tinyprof/tinyprof/serialport"
)

// Options configures a Device. The zero value is usable; each field's
// comment gives its default.
type Options struct {
	// Baud is the serial line rate for Open. Default 115200.
	Baud int
	// Timeout bounds one attempt at one request: the wait for an answer,
	// or, during a generation or upload, the silence between two frames.
	// Default 2s. The context of each call bounds the whole call.
	Timeout time.Duration
	// PrefillTimeout bounds the wait for a generation's first frame, which
	// a board sends only after processing the whole prompt. Default 60s.
	// Within it, every Timeout of silence is acted on (see Generate), so
	// a GENERATE lost on the line costs a few Timeouts, not PrefillTimeout.
	PrefillTimeout time.Duration
	// Retries is how many times a request is sent again after a corrupted
	// answer before the call fails with ErrCRC; a request met with silence
	// is sent once more. Default 3.
	Retries int
	// MaxPayload is the largest frame payload the host accepts. Default
	// firmware.MaxPayloadLimit.
	MaxPayload int
	// OnLog, if set, is called with every line the board prints or logs:
	// from the reader goroutine, or from a request's goroutine closing a
	// frame whose delimiter was lost, never two calls at once. It must not
	// block or call the Device.
	OnLog func(LogLine)
	// OnFrame, if set, is called with every frame sent ("tx") or received
	// ("rx"), for protocol traces; received frames as OnLog is called. It
	// must not block or call the Device.
	OnFrame func(dir string, f firmware.Frame)
	// LogLines is how many recent log lines the Device keeps. Default 1000.
	LogLines int
}

func (o Options) withDefaults() Options {
	if o.Baud == 0 {
		o.Baud = 115200
	}
	if o.Timeout <= 0 {
		o.Timeout = 2 * time.Second
	}
	if o.PrefillTimeout <= 0 {
		o.PrefillTimeout = 60 * time.Second
	}
	if o.Retries <= 0 {
		o.Retries = 3
	}
	if o.MaxPayload <= 0 || o.MaxPayload > firmware.MaxPayloadLimit {
		o.MaxPayload = firmware.MaxPayloadLimit
	}
	if o.LogLines <= 0 {
		o.LogLines = 1000
	}
	return o
}

// Device is a connection to one board. Close it when done.
type Device struct {
	tr   Transport
	name string
	opts Options

	mu   sync.Mutex // held for the length of a request
	seq  uint16
	info *firmware.Info // from the last Hello, guarded by mu

	cur      atomic.Pointer[call]          // the request in flight, if any
	boot     atomic.Uint32                 // last boot id seen
	rebooted atomic.Pointer[firmware.Info] // a reboot seen between requests
	logs     logRing

	rxBytes, frameBytes atomic.Int64
	metricsSent         atomic.Int64
	lastText            atomic.Pointer[string]
	// What arrived, for telling a corrupting line from a peer that does
	// not speak the protocol: valid frames, blocks that were not frames,
	// and of those the frame-shaped ones whose CRC failed.
	validFrames, badBlocks, crcFails atomic.Int64
	answers                          atomic.Int64 // valid frames answering a request (seq other than 0)

	// decMu guards the decoder and tail: the reader feeds it, and a
	// request that met silence closes a frame whose delimiter was lost.
	decMu    sync.Mutex
	dec      *firmware.Decoder
	tail     []byte // bytes since the last 0x00, while they may be a frame
	tailOver bool   // the block since the last 0x00 is longer than any frame

	done      chan struct{} // closed when the reader stops
	readErr   error         // why the reader stopped; read after done
	closeOnce sync.Once
}

// Open opens the serial port at path — a device node such as /dev/ttyUSB0,
// a pseudo-terminal, or a remote port as rfc2217://HOST:PORT (ser2net) —
// and returns a Device on it, after a Hello that checks the board speaks
// this protocol. On error nothing stays open.
func Open(ctx context.Context, path string, opts Options) (*Device, error) {
	opts = opts.withDefaults()
	port, err := serialport.OpenURL(ctx, path, opts.Baud)
	if err != nil {
		return nil, portError("open", path, err)
	}
	d := New(port, opts)
	if _, err := d.Hello(ctx); err != nil {
		d.Close()
		return nil, err
	}
	return d, nil
}

// New returns a Device on tr and starts reading from it. It does not talk to
// the board: call Hello next. The Device owns tr and closes it on Close.
func New(tr Transport, opts Options) *Device {
	opts = opts.withDefaults()
	d := &Device{tr: tr, name: transportName(tr), opts: opts, done: make(chan struct{}),
		dec: firmware.NewDecoder(opts.MaxPayload)}
	d.logs.init(opts.LogLines)
	go d.readLoop()
	return d
}

// Name returns the transport's path or address.
func (d *Device) Name() string { return d.name }

// MetricsRequests returns how many GET_METRICS requests the Device has
// sent: Metrics calls, their resends, and reads during generations. Each
// one the board answered restarted its power average, so a caller that
// integrates the board's power compares it with the requests it made.
func (d *Device) MetricsRequests() int64 { return d.metricsSent.Load() }

// Transport returns the transport the Device reads and writes.
func (d *Device) Transport() Transport { return d.tr }

// Close closes the transport and waits for the reader goroutine to stop.
func (d *Device) Close() error {
	var err error
	d.closeOnce.Do(func() { err = d.tr.Close() })
	<-d.done
	return err
}

// Info returns what the board reported in the last Hello, or nil before one.
func (d *Device) Info() *firmware.Info {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.info
}

// Logs returns the most recent log lines, oldest first.
func (d *Device) Logs() []LogLine { return d.logs.snapshot() }

func (d *Device) readLoop() {
	defer close(d.done)
	buf := make([]byte, 4096)
	for {
		n, err := d.tr.Read(buf)
		if n > 0 {
			d.rxBytes.Add(int64(n))
			d.feed(buf[:n])
		}
		if err != nil {
			if isTimeout(err) {
				d.quiet()
				continue
			}
			d.readErr = err
			if c := d.cur.Load(); c != nil {
				c.deliver(inbound{closed: true, err: err})
			}
			return
		}
	}
}

// feed decodes p and keeps the bytes after its last delimiter, which may
// be a frame whose closing delimiter is late or lost.
func (d *Device) feed(p []byte) {
	d.decMu.Lock()
	defer d.decMu.Unlock()
	d.dec.Feed(p, d.dispatch)
	if i := bytes.LastIndexByte(p, 0); i >= 0 {
		d.tail, d.tailOver = d.tail[:0], false
		p = p[i+1:]
	}
	if d.tailOver {
		return
	}
	if len(d.tail)+len(p) > maxEncoded(d.opts.MaxPayload) {
		d.tail, d.tailOver = d.tail[:0], true
		return
	}
	d.tail = append(d.tail, p...)
}

// quiet runs when the line has been quiet for the transport's read
// timeout: a pending text line is a whole line, and a pending block that
// is a whole valid frame is that frame, its closing delimiter lost (the
// CRC-32 makes a prefix that passes for a frame a 1 in 2^32 chance).
func (d *Device) quiet() {
	d.decMu.Lock()
	defer d.decMu.Unlock()
	if d.tailIsFrame() {
		d.closeBlock()
		return
	}
	d.dec.FlushText(d.dispatch)
}

// closePending ends the block the decoder holds, as a delimiter would,
// after a request's whole Timeout of silence: a valid frame is delivered,
// anything else is reported as a corrupted frame, which the request
// retries. It reports whether there was a block. It does nothing if the
// reader is busy decoding: then the line is not quiet.
func (d *Device) closePending() bool {
	if !d.decMu.TryLock() {
		return false
	}
	defer d.decMu.Unlock()
	if len(d.tail) == 0 && !d.tailOver {
		return false
	}
	return d.closeBlock() > 0
}

// closeBlock feeds the decoder a delimiter and returns how many events
// came of it: none if what the tail held was already emitted as text.
func (d *Device) closeBlock() int {
	n := 0
	d.dec.Feed([]byte{0}, func(e firmware.Event) { n++; d.dispatch(e) })
	d.tail, d.tailOver = d.tail[:0], false
	return n
}

// tailIsFrame reports whether the pending block decodes as a valid frame.
func (d *Device) tailIsFrame() bool {
	if len(d.tail) < firmware.MinFrameLen || d.tailOver {
		return false
	}
	ok := false
	probe := firmware.NewDecoder(d.opts.MaxPayload)
	probe.Feed(d.tail, func(firmware.Event) {})
	probe.Feed([]byte{0}, func(e firmware.Event) { ok = ok || e.Kind == firmware.EventFrame })
	return ok
}

// maxEncoded is the longest block a frame of maxPayload encodes to.
func maxEncoded(maxPayload int) int {
	n := maxPayload + firmware.MinFrameLen
	return n + n/254 + 2
}

// dispatch routes one decoded event. It runs on the reader goroutine.
func (d *Device) dispatch(e firmware.Event) {
	switch e.Kind {
	case firmware.EventText:
		d.lastText.Store(&e.Text)
		d.addLog(LogLine{Text: e.Text, Raw: true})
		return
	case firmware.EventBad:
		d.badBlocks.Add(1)
		if errors.Is(e.Err, firmware.ErrCRC) {
			d.crcFails.Add(1)
		}
		if c := d.cur.Load(); c != nil {
			c.deliver(inbound{bad: true, err: e.Err})
		}
		return
	}
	d.frameBytes.Add(int64(e.Len) + 2)
	d.validFrames.Add(1)
	f := e.Frame
	if f.Seq != 0 {
		d.answers.Add(1)
	}
	if d.opts.OnFrame != nil {
		d.opts.OnFrame("rx", f)
	}
	msg, err := firmware.Decode(f)
	if err != nil {
		if c := d.cur.Load(); c != nil && f.Seq == c.Seq() {
			c.deliver(inbound{seq: f.Seq, err: err})
		}
		return
	}
	switch m := msg.(type) {
	case *firmware.Log:
		d.addLog(LogLine{Level: m.Level, DeviceUS: m.TimeUS, Text: m.Text})
		return
	case *firmware.Info:
		if f.Seq == 0 {
			prev := d.boot.Swap(m.BootID)
			if prev != 0 && prev != m.BootID {
				if c := d.cur.Load(); c != nil {
					c.deliver(inbound{reset: true, msg: m})
				} else {
					d.rebooted.Store(m) // between requests: the next one reports it
				}
			}
			d.addLog(LogLine{Text: fmt.Sprintf("board booted: %s %s boot id %08x", m.Platform, m.Firmware, m.BootID), Host: true})
			return
		}
	case *firmware.Error:
		if f.Seq == 0 && m.Code == firmware.CodeBadFrame {
			if c := d.cur.Load(); c != nil {
				c.deliver(inbound{bad: true, err: m})
			}
			return
		}
	}
	if c := d.cur.Load(); c != nil && f.Seq == c.Seq() {
		c.deliver(inbound{seq: f.Seq, msg: msg})
	}
}

// inbound is one thing the reader hands to the request in flight.
type inbound struct {
	seq    uint16
	msg    firmware.Message
	bad    bool // a corrupted frame, or the board saw one of ours
	reset  bool // the board announced a new boot
	closed bool // the transport failed
	err    error
}

// call is one request in flight. seq is written by the request's
// goroutine (renumber) and read by the reader's, hence atomic.
type call struct {
	seq  atomic.Uint32
	ch   chan inbound
	stop chan struct{}
}

// Seq returns the call's current sequence number.
func (c *call) Seq() uint16 { return uint16(c.seq.Load()) }

func (c *call) deliver(in inbound) {
	select {
	case c.ch <- in:
	case <-c.stop:
	}
}

// begin takes the request lock and registers a call with a fresh sequence
// number. If the board rebooted since the last request, the call's first
// event reports it, so the caller learns its model and state are gone
// rather than meeting a puzzling NO_MODEL. The caller must call end.
func (d *Device) begin() *call {
	c := d.register()
	if info := d.rebooted.Swap(nil); info != nil {
		c.ch <- inbound{reset: true, msg: info}
	}
	return c
}

// beginResync is begin for the requests that re-synchronise with a board
// (Hello, Reset): a reboot since the last request is expected, not an error.
func (d *Device) beginResync() *call {
	c := d.register()
	d.rebooted.Store(nil)
	return c
}

// register takes the request lock and makes a call the one in flight.
func (d *Device) register() *call {
	d.mu.Lock()
	c := &call{ch: make(chan inbound, 64), stop: make(chan struct{})}
	d.renumber(c)
	d.cur.Store(c)
	return c
}

// renumber gives c a new sequence number, so that late answers to an
// earlier attempt are told apart.
func (d *Device) renumber(c *call) {
	d.seq++
	if d.seq == 0 {
		d.seq = 1
	}
	c.seq.Store(uint32(d.seq))
}

func (d *Device) end(c *call) {
	d.cur.Store(nil)
	close(c.stop)
	d.mu.Unlock()
}

// send writes m in a frame with sequence number seq. A write that blocks
// past ctx closes the transport: a board that stops reading is dead.
func (d *Device) send(ctx context.Context, op string, seq uint16, m firmware.Message) error {
	if err := ctx.Err(); err != nil {
		// Nothing written: the connection stays usable for the next call.
		return d.errorf(op, CodeTimeout, err, "")
	}
	f := firmware.Frame{Type: m.Type(), Seq: seq, Payload: m.AppendPayload(nil)}
	if d.opts.OnFrame != nil {
		d.opts.OnFrame("tx", f)
	}
	if f.Type == firmware.TypeGetMetrics {
		d.metricsSent.Add(1)
	}
	stop := context.AfterFunc(ctx, d.abort)
	_, err := d.tr.Write(firmware.AppendFrame(nil, f))
	if !stop() {
		return d.errorf(op, CodeTimeout, ctx.Err(), "the board stopped reading; the connection was closed")
	}
	if err != nil {
		return d.wrap(op, err)
	}
	return nil
}

// sendRaw writes bytes that are not a frame (a lone delimiter), with the
// same deadline handling as send.
func (d *Device) sendRaw(ctx context.Context, op string, b []byte) error {
	if err := ctx.Err(); err != nil {
		return d.errorf(op, CodeTimeout, err, "")
	}
	stop := context.AfterFunc(ctx, d.abort)
	_, err := d.tr.Write(b)
	if !stop() {
		return d.errorf(op, CodeTimeout, ctx.Err(), "the board stopped reading; the connection was closed")
	}
	if err != nil {
		return d.wrap(op, err)
	}
	return nil
}

// abort unblocks a write stuck on a board that stopped reading, and closes
// the transport: closing alone does not wake a write blocked in the kernel.
func (d *Device) abort() {
	if a, ok := d.tr.(Aborter); ok {
		a.Abort()
		return
	}
	d.tr.Close()
}

// recv waits for the next inbound event for c, up to timeout. Answers
// queued before c was renumbered are dropped: they belong to an attempt
// given up on (e.g. the ERROR a CANCEL gets when the generation had
// already ended).
func (d *Device) recv(ctx context.Context, c *call, timeout time.Duration) (inbound, error) {
	t := time.NewTimer(timeout)
	defer t.Stop()
	closed := false
	for {
		select {
		case in := <-c.ch:
			if in.seq != 0 && in.seq != c.Seq() {
				continue
			}
			return in, nil
		case <-ctx.Done():
			return inbound{}, ctx.Err()
		case <-t.C:
			if len(c.ch) == 0 && !closed && d.closePending() {
				// A block was waiting for its delimiter: what it was is
				// in c.ch now, as a frame or as a corrupted one.
				closed = true
				t.Reset(timeout)
				continue
			}
			return inbound{}, errAttemptTimeout
		case <-d.done:
			// Let a delivered-then-closed event win over the bare close.
			for {
				select {
				case in := <-c.ch:
					if in.seq == 0 || in.seq == c.Seq() {
						return in, nil
					}
					continue
				default:
				}
				return inbound{closed: true, err: d.readErr}, nil
			}
		}
	}
}

var errAttemptTimeout = errors.New("attempt timed out")

// roundTrip sends req and returns the first answer accepted by want,
// resending after corruption or silence within the retry budget.
func (d *Device) roundTrip(ctx context.Context, op string, req firmware.Message, want firmware.Type) (firmware.Message, error) {
	c := d.begin()
	defer d.end(c)
	return d.exchange(ctx, c, op, req, want, 0)
}

// exchange is roundTrip within a call the caller has begun. stale is how
// many corrupted-frame reports may still be on their way from earlier
// traffic of the call (chunks in flight), tolerated on top of the retry
// budget.
func (d *Device) exchange(ctx context.Context, c *call, op string, req firmware.Message, want firmware.Type, stale int) (firmware.Message, error) {
	start := time.Now()
	ev := d.evidence()
	bad := 0
	for attempt := 0; ; attempt++ {
		if err := d.send(ctx, op, c.Seq(), req); err != nil {
			return nil, err
		}
	wait:
		in, err := d.recv(ctx, c, d.opts.Timeout)
		switch {
		case err == errAttemptTimeout:
			if attempt < 1 {
				d.renumber(c) // one more try: the request or its answer may have been dropped
				continue
			}
			return nil, d.silence(op, time.Since(start), ev)
		case err != nil:
			return nil, d.errorf(op, CodeTimeout, err, fmt.Sprintf("no answer after %v", time.Since(start).Round(time.Millisecond)))
		}
		if in.bad {
			bad++
			if bad > d.opts.Retries+stale {
				return nil, d.corrupted(op, in.err, bad, ev)
			}
			d.renumber(c)
			continue
		}
		if done, err := d.checkInbound(op, in); done {
			return nil, err
		}
		if in.msg.Type() != want {
			goto wait // e.g. a stray MODEL_ACK: not ours
		}
		return in.msg, nil
	}
}

// evidence is what had arrived at one moment, for diagnosing a failure
// from what came since.
type evidence struct{ rx, framed, valid, bad, crc int64 }

func (d *Device) evidence() evidence {
	return evidence{d.rxBytes.Load(), d.frameBytes.Load(), d.validFrames.Load(), d.badBlocks.Load(), d.crcFails.Load()}
}

// spoke reports whether the peer has answered a request with a valid
// frame this session, or sent, since e, blocks that are mostly
// frame-shaped (COBS and length right, CRC wrong): either way it speaks
// the protocol and the line corrupts it. A boot INFO alone is not enough:
// a firmware that announces itself and then changes its baud rate sends
// noise after one good frame.
func (d *Device) spoke(e evidence) bool {
	now := d.evidence()
	bad, crc := now.bad-e.bad, now.crc-e.crc
	return d.answers.Load() > 0 || (crc > 0 && 2*crc >= bad)
}

// corrupted builds the error for a request that met only corrupted
// frames, bad of them, since e: a corrupting line if the peer speaks the
// protocol, else a peer that does not.
func (d *Device) corrupted(op string, err error, bad int, e evidence) error {
	if !d.spoke(e) {
		return d.noProtocol(op, fmt.Errorf("%d blocks that are not frames: %w", bad, err), d.evidence().rx-e.rx)
	}
	now := d.evidence()
	return d.errorf(op, CodeCRC, err, fmt.Sprintf("%d corrupted frames (%d failed their CRC) after %d valid frames from the board: it speaks the protocol and the line corrupts it; check the cable, baud rate and ground",
		bad, now.crc-e.crc, now.valid))
}

func (d *Device) noProtocol(op string, err error, junk int64) error {
	hint := fmt.Sprintf("%d bytes arrived that are not tinyprof frames: is the agent flashed, and is the baud rate %d?", junk, d.opts.Baud)
	if t := d.lastText.Load(); t != nil {
		hint += fmt.Sprintf(" The board last printed %q", *t)
	}
	return d.errorf(op, CodeNoProtocol, err, hint)
}

// silence builds the error for a request nobody answered, from what
// arrived since e: nothing; frames, but no answer; corrupted frames from a
// peer that speaks the protocol; or bytes from one that does not.
func (d *Device) silence(op string, waited time.Duration, e evidence) error {
	now := d.evidence()
	rx, framed, bad := now.rx-e.rx, now.framed-e.framed, now.bad-e.bad
	w := waited.Round(time.Millisecond)
	switch {
	case bad > 0 && d.spoke(e):
		return d.errorf(op, CodeCRC, fmt.Errorf("no intact answer after %v", w),
			fmt.Sprintf("%d frames arrived corrupted (%d failed their CRC) after %d valid frames from the board: it speaks the protocol and the line corrupts it; check the cable, baud rate and ground",
				bad, now.crc-e.crc, now.valid))
	case rx > framed && now.valid == 0:
		return d.noProtocol(op, fmt.Errorf("no valid answer after %v", w), rx-framed)
	case rx > framed:
		hint := fmt.Sprintf("the board spoke the protocol earlier (%d valid frames), but sent %d bytes of text since and no answer: it may have crashed or rebooted; check its log", now.valid, rx-framed)
		if t := d.lastText.Load(); t != nil {
			hint += fmt.Sprintf(". It last printed %q", *t)
		}
		return d.errorf(op, CodeTimeout, fmt.Errorf("no answer after %v", w), hint)
	case framed > 0:
		return d.errorf(op, CodeTimeout, fmt.Errorf("no answer after %v", w),
			"the board speaks the protocol but did not answer this request: it may be busy or stuck; check its log")
	}
	return d.errorf(op, CodeTimeout, fmt.Errorf("no answer after %v", w),
		"the board sent nothing: is it powered, on this port, and running firmware with the tinyprof agent?")
}

func (d *Device) errorf(op string, code Code, err error, hint string) error {
	return &Error{Op: op, Port: d.name, Code: code, Err: err, Hint: hint}
}

// wrap turns a transport error into a Device error, keeping typed ones.
func (d *Device) wrap(op string, err error) error {
	var de *Error
	if errors.As(err, &de) {
		return &Error{Op: op, Port: d.name, Code: de.Code, Err: de.Err, Hint: de.Hint}
	}
	var pe *serialport.Error
	if errors.As(err, &pe) {
		return portError(op, d.name, err)
	}
	if err == nil {
		err = errors.New("transport closed")
	}
	return &Error{Op: op, Port: d.name, Code: CodeClosed, Err: err, Hint: "the connection was lost; reopen the device"}
}

// portCodes maps a serial-port failure to the device error code that
// callers branch on.
var portCodes = map[serialport.Kind]Code{
	serialport.Missing: CodePortMissing, serialport.Busy: CodePortBusy,
	serialport.Permission: CodePermission, serialport.Timeout: CodeTimeout,
	serialport.Closed: CodeClosed, serialport.NoResetLines: CodeNoResetLines,
}

// portError turns a *serialport.Error into a *Error with the same cause and
// hint, so errors.Is against the Err… sentinels works on every path.
func portError(op, port string, err error) error {
	var pe *serialport.Error
	if !errors.As(err, &pe) {
		return &Error{Op: op, Port: port, Code: CodeClosed, Err: err}
	}
	code, ok := portCodes[pe.Kind]
	if !ok {
		code = CodeClosed
	}
	return &Error{Op: op, Port: port, Code: code, Err: pe.Err, Hint: pe.Hint}
}

func remoteHint(c firmware.Code) string {
	switch c {
	case firmware.CodeOutOfMemory:
		return "the board ran out of heap; use a smaller model or context, or put buffers in PSRAM"
	case firmware.CodeModelTooLarge:
		return "the model does not fit this board; run `tiny-profiler analyze-model` to see where it fits"
	case firmware.CodeBadChecksum:
		return "the upload was corrupted; retry the upload"
	case firmware.CodeUnsupportedFormat:
		return "the firmware cannot run this model format"
	case firmware.CodeBusy:
		return "the board is busy with another request; wait or cancel it"
	case firmware.CodeUnknownCommand:
		return "the firmware does not implement this request; update it"
	case firmware.CodeNoModel:
		return "load a model first"
	}
	return ""
}
