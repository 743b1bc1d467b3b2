package devicetest

import (
	"io"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/tinyprof/tinyprof/device"
	"github.com/tinyprof/tinyprof/firmware"
)

// Direction is one way along the line, as the host sees it.
type Direction int

// The directions.
const (
	ToBoard Direction = iota + 1 // what the host writes
	ToHost                       // what the host reads
)

func (d Direction) String() string {
	if d == ToBoard {
		return "to board"
	}
	return "to host"
}

// Byte is one byte on the line as a Pick sees it.
type Byte struct {
	Pos   int64         // position in its direction, from 0
	Value byte          // the byte
	Frame firmware.Type // the type of the frame the byte belongs to, once its type byte has passed; 0 otherwise
	End   bool          // the 0x00 that closes a frame (the next frame's leading 0x00 would close it too)
}

// Pick chooses the bytes a fault hits. A Pick may keep state (a count);
// give each wrapper its own.
type Pick func(Byte) bool

// Every picks every nth byte (n >= 1): the nth, the 2nth, ...
func Every(n int) Pick {
	return func(b Byte) bool { return n > 0 && (b.Pos+1)%int64(n) == 0 }
}

// At picks the bytes at the given positions, counted from 0.
func At(pos ...int64) Pick {
	set := make(map[int64]bool, len(pos))
	for _, p := range pos {
		set[p] = true
	}
	return func(b Byte) bool { return set[b.Pos] }
}

// Rate picks each byte with probability p, from a stream seeded by seed:
// the same seed picks the same positions.
func Rate(p float64, seed uint64) Pick {
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	return func(Byte) bool { return r.Float64() < p }
}

// FrameEnd picks the closing 0x00 of the nth frame of type t (from 1; 0
// for every such frame). Losing it matters only when nothing follows: the
// peer's decoder holds the frame until the next delimiter.
func FrameEnd(t firmware.Type, nth int) Pick {
	seen := 0
	return func(b Byte) bool {
		if !b.End || b.Frame != t {
			return false
		}
		seen++
		return nth == 0 || seen == nth
	}
}

// Drop returns tr with the picked bytes in direction dir lost.
func Drop(tr device.Transport, dir Direction, pick Pick) device.Transport {
	return wrap(tr, dir, func(b Byte, out []byte) []byte {
		if pick(b) {
			return out
		}
		return append(out, b.Value)
	})
}

// Duplicate returns tr with the picked bytes in direction dir sent twice.
func Duplicate(tr device.Transport, dir Direction, pick Pick) device.Transport {
	return wrap(tr, dir, func(b Byte, out []byte) []byte {
		if pick(b) {
			out = append(out, b.Value)
		}
		return append(out, b.Value)
	})
}

// Flip returns tr with the picked bytes in direction dir XORed with mask
// (0x01 turns a 0x01 into a spurious delimiter; 0x80 flips the top bit).
func Flip(tr device.Transport, dir Direction, pick Pick, mask byte) device.Transport {
	return wrap(tr, dir, func(b Byte, out []byte) []byte {
		if pick(b) {
			return append(out, b.Value^mask)
		}
		return append(out, b.Value)
	})
}

// Delay returns tr with every write (ToBoard) or every read's data
// (ToHost) held back by d: a slow link or a board slow to answer. Close
// ends a wait early.
func Delay(tr device.Transport, dir Direction, d time.Duration) device.Transport {
	f := newFaulty(tr, dir)
	f.delay = d
	return f
}

// Split returns tr with the bytes in direction dir passed in pieces of at
// most n bytes (n >= 1), each its own Write or Read, as a UART's FIFO
// hands them over.
func Split(tr device.Transport, dir Direction, n int) device.Transport {
	f := newFaulty(tr, dir)
	f.split = max(1, n)
	return f
}

// CutAfter returns tr cut after n bytes in direction dir have passed, as
// an unplugged cable: the rest is lost and the transport is closed, so
// the Device sees the connection end.
func CutAfter(tr device.Transport, dir Direction, n int64) device.Transport {
	f := newFaulty(tr, dir)
	f.cut = max(0, n)
	return f
}

// wrap returns tr with each byte in direction dir replaced by what apply
// appends for it.
func wrap(tr device.Transport, dir Direction, apply func(Byte, []byte) []byte) device.Transport {
	f := newFaulty(tr, dir)
	f.apply = apply
	return f
}

// faulty is a Transport with one fault in one direction.
type faulty struct {
	tr  device.Transport
	dir Direction

	apply func(Byte, []byte) []byte // per-byte rewrite, or nil
	delay time.Duration
	split int   // 0: whole
	cut   int64 // -1: never

	// Per direction, used by the one goroutine reading or writing.
	track   tracker
	passed  int64
	pending []byte // ToHost: rewritten bytes not yet returned
	scratch []byte

	closeOnce sync.Once
	closed    chan struct{}
}

func newFaulty(tr device.Transport, dir Direction) *faulty {
	return &faulty{tr: tr, dir: dir, cut: -1, closed: make(chan struct{})}
}

// tracker follows frame boundaries, so that a Pick can name a frame's
// closing delimiter.
type tracker struct {
	pos  int64
	n    int           // bytes of the current block
	typ  firmware.Type // its type byte (the second encoded byte)
	open bool
}

func (t *tracker) next(v byte) Byte {
	b := Byte{Pos: t.pos, Value: v}
	t.pos++
	if v == 0 {
		b.End, b.Frame = t.open && t.n >= 2, t.typ
		t.n, t.typ, t.open = 0, 0, true
		return b
	}
	t.n++
	if t.n == 2 {
		t.typ = firmware.Type(v)
	}
	b.Frame = t.typ
	return b
}

// rewrite passes p through the per-byte fault.
func (f *faulty) rewrite(p []byte) []byte {
	if f.apply == nil {
		return append([]byte(nil), p...)
	}
	out := make([]byte, 0, len(p)+8)
	for _, v := range p {
		out = f.apply(f.track.next(v), out)
	}
	return out
}

// Name returns the wrapped transport's name.
func (f *faulty) Name() string {
	if n, ok := f.tr.(device.Named); ok {
		return n.Name()
	}
	return ""
}

// Abort aborts the wrapped transport, or closes it.
func (f *faulty) Abort() error {
	f.markClosed()
	if a, ok := f.tr.(device.Aborter); ok {
		return a.Abort()
	}
	return f.tr.Close()
}

// Close closes the wrapped transport.
func (f *faulty) Close() error {
	f.markClosed()
	return f.tr.Close()
}

func (f *faulty) markClosed() { f.closeOnce.Do(func() { close(f.closed) }) }

// sleep waits d, or until Close; it reports false if closed.
func (f *faulty) sleep(d time.Duration) bool {
	if d <= 0 {
		return true
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-f.closed:
		return false
	}
}

// Write implements device.Transport.
func (f *faulty) Write(p []byte) (int, error) {
	if f.dir != ToBoard {
		return f.tr.Write(p)
	}
	if !f.sleep(f.delay) {
		return 0, io.ErrClosedPipe
	}
	out := f.rewrite(p)
	cut := false
	if f.cut >= 0 && f.passed+int64(len(out)) > f.cut {
		out, cut = out[:f.cut-f.passed], true
	}
	for len(out) > 0 {
		n := len(out)
		if f.split > 0 {
			n = min(n, f.split)
		}
		if _, err := f.tr.Write(out[:n]); err != nil {
			return 0, err
		}
		f.passed += int64(n)
		out = out[n:]
	}
	if cut {
		f.Close()
		return 0, io.ErrClosedPipe
	}
	return len(p), nil
}

// Read implements device.Transport.
func (f *faulty) Read(p []byte) (int, error) {
	if f.dir != ToHost {
		return f.tr.Read(p)
	}
	for len(f.pending) == 0 || (f.cut >= 0 && f.passed >= f.cut) {
		if f.cut >= 0 && f.passed >= f.cut {
			f.pending = nil
			f.Close()
			return 0, io.EOF
		}
		if len(f.scratch) < len(p) {
			f.scratch = make([]byte, len(p))
		}
		n, err := f.tr.Read(f.scratch[:len(p)])
		if n > 0 {
			f.pending = append(f.pending, f.rewrite(f.scratch[:n])...)
			if !f.sleep(f.delay) {
				return 0, io.EOF
			}
		}
		if len(f.pending) == 0 && err != nil {
			return 0, err
		}
		// Every byte dropped: read again rather than return (0, nil).
	}
	n := len(f.pending)
	if f.split > 0 {
		n = min(n, f.split)
	}
	if f.cut >= 0 {
		n = int(min(int64(n), f.cut-f.passed))
	}
	n = copy(p, f.pending[:n])
	f.pending = f.pending[:copy(f.pending, f.pending[n:])]
	f.passed += int64(n)
	return n, nil
}
