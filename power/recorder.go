package power

import (
	"context"
	"errors"
	"sync"
)

// DefaultRecordLimit is the number of samples a Recorder keeps unless told
// otherwise: about ten seconds of a PPK2 at 100 kS/s, 40 MiB.
const DefaultRecordLimit = 1 << 20

// Trace is what a Recorder captured.
type Trace struct {
	Info    Info     `json:"meter"`
	Samples []Sample `json:"-"`
	Stats   Stats    `json:"stats"`
	// Dropped counts samples read after the limit was reached: they are
	// not in Samples, so windows past the last sample fail to integrate.
	Dropped int64 `json:"dropped,omitempty"`
}

// Recorder reads a meter in its own goroutine, so that the meter's stream
// is drained while the caller drives the board, and keeps at most a fixed
// number of samples. It owns the meter between Record and Stop.
type Recorder struct {
	m      Meter
	cancel context.CancelFunc
	done   chan struct{}

	mu    sync.Mutex
	trace Trace
	limit int
	err   error
}

// Record starts m and a goroutine that reads it until Stop or until ctx
// ends, keeping the first limit samples (DefaultRecordLimit if limit ≤ 0).
// The caller must call Stop, which also stops the meter.
func Record(ctx context.Context, m Meter, limit int) (*Recorder, error) {
	if limit <= 0 {
		limit = DefaultRecordLimit
	}
	if err := m.Start(ctx); err != nil {
		return nil, err
	}
	rctx, cancel := context.WithCancel(ctx)
	r := &Recorder{m: m, cancel: cancel, done: make(chan struct{}), limit: limit, trace: Trace{Info: m.Info()}}
	go r.run(rctx)
	return r, nil
}

func (r *Recorder) run(ctx context.Context) {
	defer close(r.done)
	buf := make([]Sample, 4096)
	for {
		n, err := r.m.Read(ctx, buf)
		r.mu.Lock()
		keep := min(n, r.limit-len(r.trace.Samples))
		r.trace.Samples = append(r.trace.Samples, buf[:keep]...)
		r.trace.Dropped += int64(n - keep)
		if err != nil && ctx.Err() == nil {
			r.err = err
		}
		r.mu.Unlock()
		if err != nil {
			return
		}
	}
}

// Len returns how many samples have been kept so far.
func (r *Recorder) Len() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.trace.Samples)
}

// Stop ends the recording, stops the meter and returns the trace. The
// error is the first the meter returned while recording (the trace holds
// the samples before it), or the error from stopping it.
func (r *Recorder) Stop(ctx context.Context) (Trace, error) {
	r.cancel()
	<-r.done
	r.mu.Lock()
	t, err := r.trace, r.err
	r.mu.Unlock()
	if s, ok := r.m.(StatsReporter); ok {
		t.Stats = s.Stats()
	}
	return t, errors.Join(err, r.m.Stop(ctx))
}

// Last returns the latest sample kept so far, and false if there is none
// yet (or the limit was reached before any). It is how a caller waits
// until the trace covers a time on the meter's clock.
func (r *Recorder) Last() (Sample, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.trace.Samples) == 0 {
		return Sample{}, false
	}
	return r.trace.Samples[len(r.trace.Samples)-1], true
}

// Err returns the error the meter returned while recording, if any; the
// recording has then ended.
func (r *Recorder) Err() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.err
}

// Full reports whether the recorder reached its limit and is dropping
// samples.
func (r *Recorder) Full() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.trace.Dropped > 0
}
