package model

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"sync"
)

// quantizer streams the planned tensors from src through chunk conversions
// to an emit function, in file order.
type quantizer struct {
	ctx         context.Context
	src         io.ReaderAt
	plan        []*planned
	progress    func(done, total int64)
	done, total int64
	workers     int
}

// quantChunk is the number of elements converted at a time: a multiple of
// every block size, so chunks of any tensor are whole source and target
// blocks.
const quantChunk = 1 << 16

// chunk is one unit of work: elements [off, off+n) of tensor p, with the
// buffers that hold them while in flight. A chunk's buffers are reused for
// later chunks, so memory is bounded by the number of chunks in flight.
type chunk struct {
	p      *planned
	gs     int // llama2.c int8 group, 0 for GGUF
	off, n int64
	last   bool // the tensor's final chunk

	in     []byte
	vals   []float32
	back   []float32
	out    []byte // aliases in for verbatim copies
	scales []byte

	sumErr, sumSq, maxAbs float64
	err                   error
	done                  chan struct{}
}

// chunks calls f for each chunk of the plan in order, with n ≤ quantChunk
// (and a whole number of llama2.c groups), until f returns false; a tensor
// with no elements still gets one empty, last chunk, so its report is
// filled in.
func (q *quantizer) chunks(gs int, f func(p *planned, off, n int64, last bool) bool) {
	for _, p := range q.plan {
		g := 0
		if p.to == TypeI8 {
			g = gs
		}
		step := int64(quantChunk)
		if g > 0 {
			step -= step % int64(g)
		}
		total := p.src.Elements()
		for off := int64(0); ; off += step {
			n := min(step, total-off)
			if !f(p, off, n, off+n >= total) {
				return
			}
			if off+n >= total {
				break
			}
		}
	}
}

// convert reads, decodes, checks, converts and measures the chunk. It
// touches only the chunk and the read-only plan, so chunks convert
// concurrently.
func (c *chunk) convert(src io.ReaderAt) error {
	t := c.p.src
	bs, bb := t.Type.BlockSize(), t.Type.BlockBytes()
	nb := c.n / bs * bb
	c.in = grow(c.in[:0], int(nb))
	if _, err := src.ReadAt(c.in, t.Offset+c.off/bs*bb); err != nil {
		return fmt.Errorf("reading tensor %s: %w", t.Name, err)
	}
	c.sumErr, c.sumSq, c.maxAbs = 0, 0, 0
	c.scales = c.scales[:0]
	if !Quantizable(t.Type) {
		c.out = c.in // copied verbatim; nothing to check it against
		return nil
	}
	var err error
	if c.vals, err = DecodeRow(c.vals[:0], c.in, t.Type); err != nil {
		return fmt.Errorf("tensor %s: %w", t.Name, err)
	}
	if i := nonFinite(c.vals); i >= 0 {
		return fmt.Errorf("tensor %s element %d is %v: the model is corrupt (NaN or infinite weights quantize to garbage); re-export it from a good checkpoint", t.Name, c.off+int64(i), c.vals[i])
	}
	to := c.p.to
	if to == t.Type {
		c.out = c.in
		return nil
	}
	c.out = c.out[:0]
	if to == TypeI8 && c.gs > 0 {
		c.out, c.scales = quantizeQ80Groups(c.out, c.scales, c.vals, c.gs)
		c.back = c.back[:0]
		for i, b := range c.out {
			s := math.Float32frombits(binary.LittleEndian.Uint32(c.scales[4*(i/c.gs):]))
			c.back = append(c.back, float32(int8(b))*s)
		}
	} else {
		if c.out, err = EncodeRow(c.out, c.vals, to); err != nil {
			return fmt.Errorf("tensor %s: %w", t.Name, err)
		}
		if c.back, err = DecodeRow(c.back[:0], c.out, to); err != nil {
			return err
		}
	}
	if i := nonFinite(c.back); i >= 0 {
		// A block shares its scale: blame the block's largest value.
		bs := max(int(to.BlockSize()), c.gs, 1)
		lo := i / bs * bs
		for j := lo; j < min(lo+bs, len(c.vals)); j++ {
			if abs32(c.vals[j]) > abs32(c.vals[i]) {
				i = j
			}
		}
		return fmt.Errorf("tensor %s element %d (%g) does not survive conversion to %s: its scale or value overflows the format's float16; keep the tensor in source precision or choose a wider type",
			t.Name, c.off+int64(i), c.vals[i], to)
	}
	for i, v := range c.vals {
		// float64() stops a fused multiply-add, so the report is the same
		// on every build as well.
		e := float64(v) - float64(c.back[i])
		c.sumErr += float64(e * e)
		c.sumSq += float64(float64(v) * float64(v))
		c.maxAbs = max(c.maxAbs, math.Abs(e))
	}
	return nil
}

// nonFinite returns the index of the first NaN or infinity in v, or -1.
func nonFinite(v []float32) int {
	for i, x := range v {
		if math.Float32bits(x)&0x7f800000 == 0x7f800000 {
			return i
		}
	}
	return -1
}

// finish adds a converted chunk to its tensor, in order, and emits its
// bytes; after the tensor's last chunk it emits the llama2.c scales and
// fills the tensor's report.
func (q *quantizer) finish(c *chunk, emit func([]byte) (int, error)) error {
	p := c.p
	if c.off == 0 {
		t := p.src
		p.rep = TensorQuant{Name: t.Name, From: t.Type, To: p.to, Elements: t.Elements(), BytesBefore: t.Bytes, Kept: p.rep.Kept, Fallback: p.rep.Fallback}
		p.sumErr, p.sumSq, p.maxAbs, p.scales = 0, 0, 0, p.scales[:0]
	}
	if _, err := emit(c.out); err != nil {
		return err
	}
	p.sumErr += c.sumErr
	p.sumSq += c.sumSq
	p.maxAbs = max(p.maxAbs, c.maxAbs)
	p.scales = append(p.scales, c.scales...)
	q.done += int64(len(c.in))
	if q.progress != nil {
		q.progress(q.done, q.total)
	}
	if !c.last {
		return nil
	}
	if len(p.scales) > 0 {
		if _, err := emit(p.scales); err != nil {
			return err
		}
		p.scales = nil
	}
	n := p.rep.Elements
	if p.to != p.src.Type && n > 0 {
		p.rep.RMSE = math.Sqrt(p.sumErr / float64(n))
		p.rep.MaxAbs = p.maxAbs
		if p.sumSq > 0 {
			p.rep.Relative = math.Sqrt(p.sumErr / p.sumSq)
		}
	}
	if p.to == TypeI8 && c.gs > 0 {
		p.rep.BytesAfter = n + 4*(n/int64(c.gs))
	} else {
		p.rep.BytesAfter, _ = p.to.RowBytes(n)
	}
	return nil
}

// run converts every planned tensor and passes the bytes to emit in file
// order: in the calling goroutine when q.workers is 1, otherwise on
// q.workers goroutines with at most two chunks per worker in flight.
func (q *quantizer) run(gs int, emit func([]byte) (int, error)) error {
	if q.workers <= 1 {
		return q.runSerial(gs, emit)
	}
	return q.runParallel(gs, emit)
}

func (q *quantizer) runSerial(gs int, emit func([]byte) (int, error)) error {
	c := &chunk{gs: gs}
	var err error
	q.chunks(gs, func(p *planned, off, n int64, last bool) bool {
		if err = q.ctx.Err(); err != nil {
			return false
		}
		c.p, c.off, c.n, c.last = p, off, n, last
		if err = c.convert(q.src); err != nil {
			return false
		}
		err = q.finish(c, emit)
		return err == nil
	})
	return err
}

// runParallel is a three-stage pipeline. A producer goroutine takes a free
// chunk, queues it in order and hands it to a worker; workers convert
// chunks in any order; the calling goroutine takes chunks from the queue
// in order, waits for each to be converted, emits it and frees it. The
// fixed pool of chunks bounds memory and keeps the producer at most
// 2×workers chunks ahead of the writer. On any error the writer closes
// stop; the producer then stops queueing, the workers finish the chunk in
// hand, and run returns after every goroutine has exited.
func (q *quantizer) runParallel(gs int, emit func([]byte) (int, error)) error {
	inflight := 2 * q.workers
	free := make(chan *chunk, inflight)
	for range inflight {
		free <- &chunk{gs: gs, done: make(chan struct{}, 1)}
	}
	order := make(chan *chunk, inflight)
	work := make(chan *chunk)
	stop := make(chan struct{})
	ctx := q.ctx
	cut := false // the producer stopped early; read after order is closed

	var wg sync.WaitGroup
	wg.Go(func() {
		defer close(order)
		defer close(work)
		q.chunks(gs, func(p *planned, off, n int64, last bool) bool {
			var c *chunk
			select {
			case c = <-free:
			case <-stop:
				return false
			case <-ctx.Done():
				cut = true
				return false
			}
			c.p, c.off, c.n, c.last = p, off, n, last
			order <- c // never blocks: order holds as many as the pool
			select {
			case work <- c:
				return true
			case <-stop:
				return false
			case <-ctx.Done():
				c.err = ctx.Err()
				c.done <- struct{}{}
				return false
			}
		})
	})
	for range q.workers {
		wg.Go(func() {
			for c := range work {
				c.err = c.convert(q.src)
				c.done <- struct{}{}
			}
		})
	}

	var err error
	for c := range order {
		select {
		case <-c.done:
		case <-ctx.Done():
			// The chunk may still be with a worker; its done is buffered.
			err = ctx.Err()
		}
		if err == nil {
			err = c.err
		}
		if err == nil {
			err = ctx.Err()
		}
		if err == nil {
			err = q.finish(c, emit)
		}
		if err != nil {
			break
		}
		free <- c
	}
	if err != nil {
		close(stop)
		for range order { // let the producer finish queueing
		}
	}
	wg.Wait()
	if err == nil && cut {
		err = ctx.Err()
	}
	return err
}
