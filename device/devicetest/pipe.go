// Package devicetest is test tooling for the device client, in the manner
// of testing/iotest: an in-memory serial line (Pipe), tiny constructors
// that break a device.Transport in one precise way (Drop, Duplicate, Flip,
// Delay, Split, CutAfter), and a scripted board (Board) that speaks the
// protocol correctly and answers from a Script, so that a test can make
// it lie about what it measured.
//
// Nothing here is for production use: the wrappers and boards exist to
// shake out framing, retry and validation bugs in tests and fuzz targets.
package devicetest

import (
	"io"
	"os"
	"sync"
	"time"
)

// PipeOptions configures a Pipe. The zero value is usable.
type PipeOptions struct {
	// Buffer is how many bytes each direction holds before a write blocks,
	// as a tty's buffers do when the reader stops reading. Default 64 KiB.
	Buffer int
	// ReadTimeout, if positive, makes a Read on a quiet line return a
	// timeout error after this long, as a serial port's internal read
	// timeout does (device.Transport's contract). Default 0: Read blocks
	// until data arrives or the line is closed, as net.Pipe's does.
	ReadTimeout time.Duration
}

// Pipe returns the two ends of an in-memory serial line. Closing either
// end closes the line, as unplugging the cable would: blocked reads and
// writes on both ends return.
func Pipe(opts PipeOptions) (host, board *End) {
	if opts.Buffer <= 0 {
		opts.Buffer = 64 << 10
	}
	l := &line{closed: make(chan struct{})}
	a := newQueue(opts.Buffer)
	b := newQueue(opts.Buffer)
	host = &End{l: l, in: a, out: b, timeout: opts.ReadTimeout, name: "devicetest-pipe"}
	board = &End{l: l, in: b, out: a, timeout: opts.ReadTimeout, name: "devicetest-pipe-board"}
	return host, board
}

// End is one end of a Pipe. It implements device.Transport. Read and Write
// may be called concurrently with each other, each by one goroutine.
type End struct {
	l       *line
	in, out *queue
	timeout time.Duration
	name    string
}

type line struct {
	once   sync.Once
	closed chan struct{}
}

// queue is one direction of the line: a bounded byte buffer.
type queue struct {
	mu       sync.Mutex
	buf      []byte
	max      int
	readable chan struct{} // a token when bytes arrive
	writable chan struct{} // a token when room frees
}

func newQueue(n int) *queue {
	return &queue{max: n, readable: make(chan struct{}, 1), writable: make(chan struct{}, 1)}
}

func signal(c chan struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}

// Name returns a name for errors and logs.
func (e *End) Name() string { return e.name }

// Read reads what the other end wrote; see PipeOptions.ReadTimeout.
func (e *End) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	var timer <-chan time.Time
	if e.timeout > 0 {
		t := time.NewTimer(e.timeout)
		defer t.Stop()
		timer = t.C
	}
	q := e.in
	for {
		q.mu.Lock()
		if len(q.buf) > 0 {
			n := copy(p, q.buf)
			q.buf = q.buf[:copy(q.buf, q.buf[n:])]
			q.mu.Unlock()
			signal(q.writable)
			return n, nil
		}
		q.mu.Unlock()
		select {
		case <-e.l.closed:
			return 0, io.EOF
		default:
		}
		select {
		case <-q.readable:
		case <-e.l.closed:
		case <-timer:
			return 0, timeoutError{}
		}
	}
}

// Write writes p for the other end, blocking while its buffer is full.
func (e *End) Write(p []byte) (int, error) {
	q := e.out
	done := 0
	for {
		select {
		case <-e.l.closed:
			return done, io.ErrClosedPipe
		default:
		}
		q.mu.Lock()
		n := min(q.max-len(q.buf), len(p)-done)
		q.buf = append(q.buf, p[done:done+n]...)
		q.mu.Unlock()
		if n > 0 {
			signal(q.readable)
		}
		done += n
		if done == len(p) {
			return done, nil
		}
		select {
		case <-q.writable:
		case <-e.l.closed:
		}
	}
}

// Close closes the line for both ends.
func (e *End) Close() error {
	e.l.once.Do(func() { close(e.l.closed) })
	return nil
}

// timeoutError is a quiet line's read timeout: Timeout reports true and
// it matches os.ErrDeadlineExceeded, as device.Transport requires.
type timeoutError struct{}

func (timeoutError) Error() string        { return "read timed out" }
func (timeoutError) Timeout() bool        { return true }
func (timeoutError) Is(target error) bool { return target == os.ErrDeadlineExceeded }
