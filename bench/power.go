package bench

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/tinyprof/tinyprof/device"
	"github.com/tinyprof/tinyprof/power"
)

// WindowBy is how PowerMeter finds a generation's window among a meter's
// samples.
type WindowBy int

const (
	// WindowAuto uses the meter's logic inputs if it has them (PPK2), its
	// event input if it reports events (LPM01A), else clock alignment.
	WindowAuto WindowBy = iota
	// WindowLogic reads the window off a logic input the board raises for
	// the whole generation (power.LogicWindows): ± half a sample period.
	WindowLogic
	// WindowEvents pairs the timestamp events the board pulses at the
	// start and end of the generation (power.MarkerWindows): ± one period.
	WindowEvents
	// WindowClock places the board's own start and end times on the
	// meter's clock through the host's: the uncertainty is half of each
	// round trip plus the crystals' drift.
	WindowClock
)

func (w WindowBy) String() string {
	return [...]string{"auto", "logic", "events", "clock alignment"}[w]
}

// PowerOptions configure a PowerMeter. The zero value is usable.
type PowerOptions struct {
	// Window is how windows are found. Default WindowAuto.
	Window WindowBy
	// LogicBit is the meter input the board's GPIO is wired to for
	// WindowLogic (PPK2 D0–D7). Default 0.
	LogicBit uint
	// Idle is how long the board is metered idle before each generation;
	// its average power is reported apart as IdleWatts. Default 20 ms.
	Idle time.Duration
	// DriftPPM is the relative drift assumed between the board's and the
	// meter's crystals for WindowClock. Default 100 (two ±50 ppm parts).
	DriftPPM float64
	// Limit is the most samples kept per generation (see power.Record).
	// Default power.DefaultRecordLimit, about ten seconds of a PPK2.
	Limit int
	// Timeout bounds each wait for the meter's samples to cover a point
	// of its clock. Default 10 s.
	Timeout time.Duration
}

// PowerMeter meters a board's generations with a power.Meter: it records
// the meter from Begin, finds the generation's window (by GPIO logic, by
// event pulses, or by clock alignment, with its uncertainty), and
// integrates current × voltage over it. It implements Meter.
//
// It does not own the meter: the caller closes it. It is used from one
// goroutine at a time.
type PowerMeter struct {
	m    power.Meter
	dev  Device
	opts PowerOptions
	by   WindowBy

	epoch   time.Time
	rec     *power.Recorder
	align   power.Alignment
	idleEnd time.Duration
}

var _ Meter = (*PowerMeter)(nil)

// NewPowerMeter returns a Meter that reads m around each generation on
// dev. dev is asked for its clock (METRICS) before each generation to
// align clocks.
func NewPowerMeter(m power.Meter, dev Device, opts PowerOptions) *PowerMeter {
	if opts.Idle <= 0 {
		opts.Idle = 20 * time.Millisecond
	}
	if opts.DriftPPM <= 0 {
		opts.DriftPPM = 100
	}
	if opts.Timeout <= 0 {
		opts.Timeout = 10 * time.Second
	}
	by := opts.Window
	if by == WindowAuto {
		by = WindowClock
		if ev, ok := m.(interface{ Events() bool }); ok && ev.Events() {
			by = WindowEvents
		}
		if m.Info().Logic {
			by = WindowLogic
		}
	}
	return &PowerMeter{m: m, dev: dev, opts: opts, by: by, epoch: time.Now()}
}

// Name names the meter and how it finds windows, e.g.
// "ppk2 /dev/pts/4 (simulated), window by logic D0".
func (p *PowerMeter) Name() string {
	info := p.m.Info()
	s := info.Kind + " " + info.Port
	if info.Simulated {
		s += " (simulated)"
	}
	switch p.by {
	case WindowLogic:
		return fmt.Sprintf("%s, window by logic D%d", s, p.opts.LogicBit)
	case WindowEvents:
		return s + ", window by event D7"
	}
	return s + ", window by clock alignment"
}

func (p *PowerMeter) now() time.Duration { return time.Since(p.epoch) }

// Begin starts recording, meters the idle board for PowerOptions.Idle,
// and aligns the board's clock with the meter's.
func (p *PowerMeter) Begin(ctx context.Context) error {
	if p.rec != nil {
		return errors.New("power meter: Begin called twice without End")
	}
	t0 := p.now()
	rec, err := power.Record(ctx, p.m, p.opts.Limit)
	if err != nil {
		return err
	}
	p.rec = rec
	fail := func(err error) error {
		p.rec.Stop(context.WithoutCancel(ctx))
		p.rec = nil
		return err
	}
	if _, err := p.waitCover(ctx, 0); err != nil {
		return fail(err)
	}
	// Sample 0 was taken after the start command went out and before the
	// first sample reached the host.
	t1 := p.now()
	meterZero := t0 + (t1-t0)/2
	hostToMeter := power.Alignment{Offset: -meterZero, Uncertainty: (t1 - t0 + 1) / 2, DriftPPM: p.opts.DriftPPM / 2}
	last, err := p.waitCover(ctx, p.opts.Idle)
	if err != nil {
		return fail(err)
	}
	p.idleEnd = last
	h1 := p.now()
	m, err := p.dev.Metrics(ctx)
	if err != nil {
		return fail(fmt.Errorf("read the board's clock: %w", err))
	}
	h2 := p.now()
	boardToHost, err := power.RoundTrip(h1, h2, time.Duration(m.UptimeUS)*time.Microsecond, p.opts.DriftPPM/2)
	if err != nil {
		return fail(err)
	}
	p.align = boardToHost.Then(hostToMeter)
	return nil
}

// End waits until the meter's samples cover the generation g reported,
// stops recording, and integrates over the generation's window. With g
// nil (the generation failed) it only stops.
func (p *PowerMeter) End(ctx context.Context, g *device.Generation) (Energy, error) {
	if p.rec == nil {
		return Energy{}, errors.New("power meter: End without Begin")
	}
	defer func() { p.rec = nil }()
	if g == nil {
		_, err := p.rec.Stop(ctx)
		return Energy{}, err
	}
	s := g.Summary
	start := time.Duration(s.StartUS) * time.Microsecond
	end := start + time.Duration(uint64(s.TTFTUS)+uint64(s.DecodeUS))*time.Microsecond
	est := p.align.Window(start, end)
	info := p.m.Info()
	margin := 5 * time.Millisecond
	if info.Rate > 0 {
		margin = max(margin, time.Duration(3*float64(time.Second)/info.Rate))
	}
	_, werr := p.waitCover(ctx, est.End+est.Uncertainty+margin+p.pulse())
	tr, err := p.rec.Stop(ctx)
	if werr != nil {
		return Energy{}, werr
	}
	if err != nil {
		return Energy{}, err
	}
	w, err := p.window(tr, est)
	if err != nil {
		return Energy{}, err
	}
	r, err := power.Integrate(tr.Samples, w)
	if err != nil {
		return Energy{}, err
	}
	e := Energy{Joules: float64(r.Energy), JoulesMin: float64(r.EnergyMin), JoulesMax: float64(r.EnergyMax),
		Seconds: w.Duration().Seconds(), Uncertainty: w.Uncertainty.Seconds(), PeakWatts: float64(r.Peak),
		Window: w.Source, Simulated: info.Simulated}
	iw := power.Window{Start: tr.Samples[0].Time, End: min(p.idleEnd, w.Start-w.Uncertainty)}
	if iw.End > iw.Start {
		if idle, err := power.Idle(tr.Samples, iw); err == nil {
			e.IdleWatts = float64(idle)
		}
	}
	return e, nil
}

// pulse is the slack after a window's end for an end-of-generation event
// pulse to be sampled.
func (p *PowerMeter) pulse() time.Duration {
	if p.by == WindowEvents {
		return 2 * time.Millisecond
	}
	return 0
}

// window finds the generation's window in the trace: the logic or event
// window nearest the clock estimate, or the estimate itself.
func (p *PowerMeter) window(tr power.Trace, est power.Window) (power.Window, error) {
	var ws []power.Window
	var err error
	switch p.by {
	case WindowClock:
		return est, nil
	case WindowLogic:
		ws, err = power.LogicWindows(tr.Samples, p.opts.LogicBit)
	case WindowEvents:
		period := time.Millisecond
		if tr.Info.Rate > 0 {
			period = time.Duration(float64(time.Second) / tr.Info.Rate)
		}
		ws, err = power.MarkerWindows(tr.Samples, period)
	}
	if err != nil {
		return power.Window{}, err
	}
	best, gap := -1, time.Duration(0)
	for i, w := range ws {
		d := w.Start - est.Start
		if d < 0 {
			d = -d
		}
		if best < 0 || d < gap {
			best, gap = i, d
		}
	}
	if best < 0 {
		input := fmt.Sprintf("logic input D%d", p.opts.LogicBit)
		if p.by == WindowEvents {
			input = "event input D7"
		}
		return power.Window{}, &power.Error{Op: "find the generation window", Meter: tr.Info.Kind + " " + tr.Info.Port, Code: power.CodeNoSamples,
			Err:  fmt.Errorf("no complete window on the %s while the board generated (expected near %v–%v of the meter's clock)", input, est.Start, est.End),
			Hint: "check the wire from the board's GPIO to the meter, and that the firmware drives it; or meter by clock alignment"}
	}
	// A window whose start lies farther from the estimate than the clocks'
	// uncertainty allows belongs to something else.
	if slack := est.Uncertainty + 10*time.Millisecond; gap > slack && p.by != WindowClock {
		return power.Window{}, &power.Error{Op: "find the generation window", Meter: tr.Info.Kind + " " + tr.Info.Port, Code: power.CodeProtocol,
			Err:  fmt.Errorf("the nearest %s window starts %v from where the board's clock puts the generation (±%v)", p.by, gap, est.Uncertainty),
			Hint: "another signal drives the meter's input, or the board's clock is off: check the wiring"}
	}
	return ws[best], nil
}

// waitCover waits until the recorder holds a sample at or after meter
// time t and returns the latest sample's time.
func (p *PowerMeter) waitCover(ctx context.Context, t time.Duration) (time.Duration, error) {
	deadline := time.NewTimer(p.opts.Timeout)
	defer deadline.Stop()
	tick := time.NewTicker(2 * time.Millisecond)
	defer tick.Stop()
	for {
		last, ok := p.rec.Last()
		if ok && last.Time >= t {
			return last.Time, nil
		}
		if err := p.rec.Err(); err != nil {
			return 0, err
		}
		info := p.m.Info()
		if p.rec.Full() {
			return 0, &power.Error{Op: "record", Meter: info.Kind + " " + info.Port, Code: power.CodeBadArgument,
				Err:  fmt.Errorf("the trace reached its limit of samples at %v of the meter's clock, before %v", last.Time, t),
				Hint: "raise PowerOptions.Limit, or generate fewer tokens per run"}
		}
		select {
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-deadline.C:
			return 0, &power.Error{Op: "record", Meter: info.Kind + " " + info.Port, Code: power.CodeTimeout,
				Err:  fmt.Errorf("after %v the samples reach only %v of the meter's clock, short of %v", p.opts.Timeout, last.Time, t),
				Hint: "check that the meter is streaming (its USB link, its firmware)"}
		case <-tick.C:
		}
	}
}
