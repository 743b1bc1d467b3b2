package power

import (
	"context"
	"sync"
)

// Averager reads a meter in its own goroutine for as long as a caller
// watches it — a live monitor, for hours — keeping no samples: it
// integrates power as samples arrive (trapezoid on current × voltage) and
// Take returns the average over the time since the previous Take. Memory
// stays constant however long it runs; use a Recorder when the samples
// themselves are needed.
type Averager struct {
	m      Meter
	cancel context.CancelFunc
	done   chan struct{}

	mu      sync.Mutex
	energy  float64 // J since the last Take
	span    float64 // s of meter time covered since the last Take
	last    Sample
	have    bool
	samples int64 // since the last Take
	err     error
}

// Average starts m and integrates its samples until Stop or until ctx
// ends. The caller must call Stop, which also stops the meter.
func Average(ctx context.Context, m Meter) (*Averager, error) {
	if err := m.Start(ctx); err != nil {
		return nil, err
	}
	rctx, cancel := context.WithCancel(ctx)
	a := &Averager{m: m, cancel: cancel, done: make(chan struct{})}
	go a.run(rctx)
	return a, nil
}

func (a *Averager) run(ctx context.Context) {
	defer close(a.done)
	buf := make([]Sample, 4096)
	for {
		n, err := a.m.Read(ctx, buf)
		a.mu.Lock()
		for _, s := range buf[:n] {
			if a.have && s.Time > a.last.Time && !s.Gap {
				dt := (s.Time - a.last.Time).Seconds()
				a.energy += (float64(a.last.Power()) + float64(s.Power())) / 2 * dt
				a.span += dt
			}
			a.last, a.have = s, true
			a.samples++
		}
		if err != nil && ctx.Err() == nil {
			a.err = err
		}
		a.mu.Unlock()
		if err != nil {
			return
		}
	}
}

// Take returns the average power since the previous Take and how many
// samples it rests on. With no interval covered yet it returns
// ErrNoSamples; after the meter failed, the meter's error.
func (a *Averager) Take() (Power, int64, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.err != nil {
		return 0, 0, a.err
	}
	if a.span <= 0 {
		return 0, 0, &Error{Op: "average", Meter: a.m.Info().Kind, Code: CodeNoSamples,
			Hint: "the meter has sent no samples since the last reading; is it streaming?"}
	}
	if a.last.Voltage <= 0 {
		return 0, 0, &Error{Op: "average", Meter: a.m.Info().Kind, Code: CodeNoVoltage,
			Hint: "the meter gives current only; set the supply voltage"}
	}
	p, n := Power(a.energy/a.span), a.samples
	a.energy, a.span, a.samples = 0, 0, 0
	return p, n, nil
}

// Info describes the meter.
func (a *Averager) Info() Info { return a.m.Info() }

// Stop ends the reading and stops the meter.
func (a *Averager) Stop(ctx context.Context) error {
	a.cancel()
	<-a.done
	return a.m.Stop(ctx)
}
