package conformance

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tinyprof/tinyprof/firmware"
)

// maxQueued bounds the events a session buffers between reads, so that a
// device flooding the line cannot exhaust the host's memory.
const maxQueued = 1 << 14

// errTimeout reports a request the device did not answer in time.
var errTimeout = errors.New("no answer before the timeout")

type readDeadliner interface{ SetReadDeadline(time.Time) error }
type writeDeadliner interface{ SetWriteDeadline(time.Time) error }

// session owns the reader goroutine and the request sequence numbers of one
// Test run. Only the goroutine that called Test uses its methods.
type session struct {
	rw      io.ReadWriter
	opts    Options
	seq     uint16
	closing atomic.Bool // close is stopping the reader

	mu       sync.Mutex
	queue    []firmware.Event
	readErr  error
	dropped  int
	notify   chan struct{}
	done     chan struct{}
	problems []error // protocol violations noticed outside any request
	// allowBadFrame suppresses the problem report for ERROR(BAD_FRAME)
	// seq 0 while a check deliberately sends bad bytes.
	allowBadFrame bool
	badFrames     int
	boot          uint32
	logs          int
	info          *firmware.Info
	maxPayload    int  // negotiated in HELLO/INFO
	loaded        bool // a model is loaded
}

func newSession(rw io.ReadWriter, opts Options) *session {
	s := &session{rw: rw, opts: opts, notify: make(chan struct{}, 1), done: make(chan struct{})}
	go s.readLoop()
	return s
}

// readLoop decodes everything the device sends into the queue.
func (s *session) readLoop() {
	defer close(s.done)
	dec := firmware.NewDecoder(firmware.MaxPayloadLimit)
	buf := make([]byte, 4096)
	for {
		n, err := s.rw.Read(buf)
		if n > 0 {
			s.mu.Lock()
			dec.Feed(buf[:n], func(e firmware.Event) {
				if len(s.queue) >= maxQueued {
					s.dropped++
					return
				}
				s.queue = append(s.queue, e)
			})
			s.mu.Unlock()
			s.signal()
		}
		if err != nil {
			// A serial port's periodic read time-out (serialport.Port
			// has one) is a quiet line — a board working on a long
			// prompt — not an end; the deadline close sets is.
			var te interface{ Timeout() bool }
			if errors.As(err, &te) && te.Timeout() && !s.closing.Load() {
				continue
			}
			s.mu.Lock()
			s.readErr = err
			s.mu.Unlock()
			s.signal()
			return
		}
	}
}

func (s *session) signal() {
	select {
	case s.notify <- struct{}{}:
	default:
	}
}

// close stops the reader if rw supports read deadlines and waits for it;
// otherwise the reader ends when the caller closes rw.
func (s *session) close() {
	rd, ok := s.rw.(readDeadliner)
	if !ok {
		return
	}
	s.closing.Store(true)
	if rd.SetReadDeadline(time.Now()) != nil {
		return
	}
	<-s.done
	_ = rd.SetReadDeadline(time.Time{})
}

// nextSeq returns the next request sequence number, skipping 0.
func (s *session) nextSeq() uint16 {
	s.seq++
	if s.seq == 0 {
		s.seq = 1
	}
	return s.seq
}

// write sends raw bytes, bounded by the request timeout when rw supports
// write deadlines.
func (s *session) write(p []byte) error {
	if wd, ok := s.rw.(writeDeadliner); ok {
		if err := wd.SetWriteDeadline(time.Now().Add(s.opts.Timeout)); err == nil {
			defer wd.SetWriteDeadline(time.Time{})
		}
	}
	if _, err := s.rw.Write(p); err != nil {
		return fmt.Errorf("write to device: %w", err)
	}
	return nil
}

// send writes m as a frame with a fresh sequence number and returns it.
func (s *session) send(m firmware.Message) (uint16, error) {
	seq := s.nextSeq()
	return seq, s.write(firmware.Encode(seq, m))
}

// event returns the next event from the device, waiting at most until
// deadline or ctx's end.
func (s *session) event(ctx context.Context, deadline time.Time) (firmware.Event, error) {
	t := time.NewTimer(time.Until(deadline))
	defer t.Stop()
	for {
		s.mu.Lock()
		if len(s.queue) > 0 {
			e := s.queue[0]
			s.queue = s.queue[1:]
			s.mu.Unlock()
			return e, nil
		}
		rerr, dropped := s.readErr, s.dropped
		s.mu.Unlock()
		if dropped > 0 {
			return firmware.Event{}, fmt.Errorf("device flooded the line: %d events dropped", dropped)
		}
		if rerr != nil {
			return firmware.Event{}, fmt.Errorf("read from device: %w", rerr)
		}
		select {
		case <-s.notify:
		case <-t.C:
			return firmware.Event{}, errTimeout
		case <-ctx.Done():
			return firmware.Event{}, ctx.Err()
		}
	}
}

// frame returns the next frame that answers seq, decoded. It accepts LOG
// frames, boot INFO and text anywhere, discards stale answers, and records
// protocol violations it sees on the way as session problems.
func (s *session) frame(ctx context.Context, seq uint16, timeout time.Duration) (firmware.Message, error) {
	deadline := time.Now().Add(timeout)
	for {
		e, err := s.event(ctx, deadline)
		if err != nil {
			return nil, err
		}
		if f, m := s.handle(e); m != nil && f.Seq == seq {
			return m, nil
		}
	}
}

// expectError waits for the answer to seq and checks it is ERROR(code).
func (s *session) expectError(ctx context.Context, seq uint16, code firmware.Code) error {
	m, err := s.frame(ctx, seq, s.opts.Timeout)
	if err != nil {
		return err
	}
	e, ok := m.(*firmware.Error)
	if !ok {
		return fmt.Errorf("answered with %s, want ERROR(%v)", describe(m), code)
	}
	if e.Code != code {
		return fmt.Errorf("ERROR(%v) %q, want ERROR(%v)", e.Code, e.Text, code)
	}
	return nil
}

// waitBadFrame waits until the device has reported more than n bad frames.
func (s *session) waitBadFrame(ctx context.Context, n int) error {
	deadline := time.Now().Add(s.opts.Timeout)
	for s.badFrames <= n {
		e, err := s.event(ctx, deadline)
		if err != nil {
			return fmt.Errorf("waiting for ERROR(BAD_FRAME) with seq 0: %w", err)
		}
		s.handle(e)
	}
	return nil
}

// handle checks one event. It returns the decoded frame if it is an
// answer to a request, and nil if it was text, bad or unsolicited.
func (s *session) handle(e firmware.Event) (firmware.Frame, firmware.Message) {
	switch e.Kind {
	case firmware.EventText:
		return firmware.Frame{}, nil
	case firmware.EventBad:
		s.problemf("device sent a corrupt block of %d bytes: %v", e.Len, e.Err)
		return firmware.Frame{}, nil
	}
	f := e.Frame
	if f.Type < 0x80 {
		s.problemf("device sent a host request type %v (seq %d)", f.Type, f.Seq)
		return f, nil
	}
	if len(f.Payload) > firmware.DefaultMaxPayload {
		s.problemf("device sent %v with a %d-byte payload, over the %d the host offered", f.Type, len(f.Payload), firmware.DefaultMaxPayload)
	}
	m, err := firmware.Decode(f)
	if err != nil {
		s.problemf("device sent an undecodable frame: %v", err)
		return f, nil
	}
	if f.Seq == 0 && s.unsolicited(m) {
		return f, nil
	}
	return f, m
}

// unsolicited handles a seq-0 message and reports whether it was one the
// protocol allows there.
func (s *session) unsolicited(m firmware.Message) bool {
	switch m := m.(type) {
	case *firmware.Log:
		s.logs++
		if !m.Level.Valid() {
			s.problemf("LOG with level %d, want 1…4", m.Level)
		}
		return true
	case *firmware.Info:
		if s.boot != 0 && m.BootID != s.boot {
			s.problemf("device rebooted during the suite (boot_id %#x → %#x)", s.boot, m.BootID)
		}
		return true
	case *firmware.Error:
		if m.Code != firmware.CodeBadFrame {
			s.problemf("unsolicited ERROR with seq 0 must be BAD_FRAME, got %v", m.Code)
		} else if s.badFrames++; !s.allowBadFrame {
			s.problemf("device reported a bad frame although the host sent none")
		}
		return true
	}
	return false
}

func (s *session) problemf(format string, args ...any) {
	s.problems = append(s.problems, fmt.Errorf(format, args...))
}

// request sends m and waits for the frame answering it.
func (s *session) request(ctx context.Context, m firmware.Message) (uint16, firmware.Message, error) {
	seq, err := s.send(m)
	if err != nil {
		return seq, nil, err
	}
	r, err := s.frame(ctx, seq, s.opts.Timeout)
	if err != nil {
		return seq, nil, fmt.Errorf("%v (seq %d): %w", m.Type(), seq, err)
	}
	return seq, r, nil
}

// expect sends m and requires an answer of type T.
func expect[T firmware.Message](ctx context.Context, s *session, m firmware.Message) (T, error) {
	var zero T
	_, r, err := s.request(ctx, m)
	if err != nil {
		return zero, err
	}
	if v, ok := r.(T); ok {
		return v, nil
	}
	return zero, fmt.Errorf("%v answered with %s, want %v", m.Type(), describe(r), zero.Type())
}

// expectError sends m and requires ERROR(code) naming the request.
func expectError(ctx context.Context, s *session, m firmware.Message, code firmware.Code) error {
	e, err := expect[*firmware.Error](ctx, s, m)
	if err != nil {
		return err
	}
	return checkError(e, code, m.Type())
}

func checkError(e *firmware.Error, code firmware.Code, req firmware.Type) error {
	var errs []error
	if e.Code != code {
		errs = append(errs, fmt.Errorf("ERROR code %d (%v), want %d (%v)", e.Code, e.Code, code, code))
	}
	if e.Request != req {
		errs = append(errs, fmt.Errorf("ERROR names request %v, want %v", e.Request, req))
	}
	return errors.Join(errs...)
}

// describe names a message for an error, with the text of an ERROR.
func describe(m firmware.Message) string {
	if e, ok := m.(*firmware.Error); ok {
		return fmt.Sprintf("ERROR(%v, %q)", e.Code, e.Text)
	}
	return m.Type().String()
}
