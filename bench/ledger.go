package bench

import (
	"context"
	"fmt"
	"math"

	"github.com/tinyprof/tinyprof/bench/internal/stats"
	"github.com/tinyprof/tinyprof/device"
	"github.com/tinyprof/tinyprof/firmware"
)

// A Ledger is the one owner of "memory and energy during a generation":
// it runs a series of generations on a board, keeps the board's METRICS
// readings in board order, and turns them into each generation's energy
// and the series' totals. Generate and the CLI's profile report
// (package bench/report) both keep one, so that go test -bench and
// tiny-profiler benchmark count alike.
//
// The board's power figure in a METRICS answer is its average since the
// answer before, so a generation's energy is the sum of power × uptime
// over the answers since the previous generation's last. A Ledger gives no
// board energy for a generation — no figure rather than a wrong one — when
// an answer the host never saw restarted that average (a read lost during
// the generation, a METRICS request sent again after a corrupted answer),
// or when the generation was run again after corruption (two attempts'
// energy for one generation's tokens). With a meter, the meter's window
// covers the last attempt alone and its energy is used instead.
//
// A Ledger is used from one goroutine.
type Ledger struct {
	dev       Device
	simulated bool
	uptime    uint64 // of the last reading
	total     EnergyTotal
	idle      []float64
}

// NewLedger returns a Ledger for dev, which must have answered Hello;
// start is the board's last METRICS reading before the first generation.
func NewLedger(dev Device, start *firmware.Metrics) *Ledger {
	l := &Ledger{dev: dev, uptime: start.UptimeUS}
	if info := dev.Info(); info != nil {
		l.simulated = info.Capabilities.Simulated()
	}
	return l
}

// Entry is one generation as a Ledger accounted for it.
type Entry struct {
	Generation *device.Generation
	// Readings are the board's METRICS answers since the previous entry's
	// last, in board order: those read while it generated
	// (Generation.Samples), then the one read after it, which is last.
	Readings []firmware.Metrics
	// Energy is the generation's energy: the meter's when one was given,
	// else the board's own when it measures its power and every answer
	// since the previous entry reached the host; nil otherwise.
	Energy *Energy
	// Metered says Energy came from a meter.
	Metered bool
}

// After returns the reading taken after the generation.
func (e *Entry) After() *firmware.Metrics { return &e.Readings[len(e.Readings)-1] }

// During reports whether Readings[k] was read while the generation ran,
// before its last token, rather than after it.
func (e *Entry) During(k int) bool {
	g := e.Generation
	last := g.Summary.StartUS
	if n := len(g.Tokens); n > 0 {
		last = g.Tokens[n-1].TimeUS
	}
	return k < len(g.Samples) && e.Readings[k].UptimeUS <= last
}

// Generate runs req on the board, inside a window of m when m is not nil,
// checks that it returned req.MaxTokens tokens (default 64), reads the
// board's METRICS after it, and accounts for it. It fails when the
// generation or a reading fails, when the board returned fewer tokens,
// and when the board reset since the previous reading (its uptime went
// back): figures across a reset would mix two boots.
func (l *Ledger) Generate(ctx context.Context, req device.GenerateRequest, m Meter) (*Entry, error) {
	asked := l.dev.MetricsRequests()
	g, energy, err := generateMetered(ctx, l.dev, req, m)
	if err != nil {
		return nil, err
	}
	want := req.MaxTokens
	if want <= 0 {
		want = 64
	}
	if err := checkTokens(g, want); err != nil {
		return nil, err
	}
	after, err := l.dev.Metrics(ctx)
	if err != nil {
		return nil, fmt.Errorf("read the board's metrics after the generation: %w", err)
	}
	// A protocol-correct board can still report impossible figures; they
	// make the run invalid, never a good result.
	info := l.dev.Info()
	env := plausibility(info)
	ps := append(g.Problems(info, env), device.MetricsProblems(*after, info, env)...)
	if err := device.Invalid("generate", ps); err != nil {
		return nil, err
	}
	e := &Entry{Generation: g, Readings: append(append(make([]firmware.Metrics, 0, len(g.Samples)+1), g.Samples...), *after)}
	start := l.uptime
	var joules float64
	power := true
	for k := range e.Readings {
		r := &e.Readings[k]
		if r.UptimeUS < l.uptime {
			return nil, fmt.Errorf("the board reset (uptime went back from %d µs to %d µs): its figures would mix two boots; check its power and log", l.uptime, r.UptimeUS)
		}
		joules += float64(r.PowerUW) / 1e6 * float64(r.UptimeUS-l.uptime) / 1e6
		power = power && r.HasPower
		l.uptime = r.UptimeUS
	}
	if energy != nil {
		e.Energy, e.Metered = energy, true
		return e, nil
	}
	// Every answer the board gave restarted its average: the requests sent
	// must be this generation's reads and the one reading after it.
	resent := l.dev.MetricsRequests() != asked+int64(g.Reads)+1
	dt := l.uptime - start
	if power && dt > 0 && g.SamplesLost == 0 && g.Retries == 0 && !resent {
		e.Energy = &Energy{Joules: joules, JoulesMin: joules, JoulesMax: joules, Seconds: float64(dt) / 1e6,
			Window: "board METRICS since the previous generation's last reading", Simulated: l.simulated}
	}
	return e, nil
}

// Count adds e to the ledger's energy totals when it has an energy
// figure: its energy and, so that energy per token stays one
// generation's, its tokens. A warm-up generation is accounted but not
// counted.
func (l *Ledger) Count(e *Entry) {
	en := e.Energy
	if en == nil {
		return
	}
	t := &l.total
	t.Generations++
	t.Tokens += len(e.Generation.Tokens)
	t.Joules += en.Joules
	t.JoulesMin += en.JoulesMin
	t.JoulesMax += en.JoulesMax
	t.Seconds += en.Seconds
	t.Simulated = t.Simulated || en.Simulated
	if e.Metered {
		t.Metered = true
		t.Uncertainty = max(t.Uncertainty, en.Uncertainty)
		if en.IdleWatts > 0 {
			l.idle = append(l.idle, en.IdleWatts)
		}
	}
}

// EnergyTotal is the energy of the generations a Ledger counted.
type EnergyTotal struct {
	Generations int // counted, with an energy figure
	Tokens      int // generated by them
	// Joules is their energy, within JoulesMin and JoulesMax (equal to it
	// for the board's own readings), over Seconds.
	Joules, JoulesMin, JoulesMax float64
	Seconds                      float64
	// Metered says the figures came from a meter; Uncertainty is then the
	// largest edge uncertainty of a window, seconds, and IdleWatts the
	// mean of the board's idle power before each (0 when not measured).
	Metered     bool
	Uncertainty float64
	IdleWatts   float64
	// Simulated says a simulated board or meter produced a figure.
	Simulated bool
}

// Watts is the average power over the time the energy covers.
func (t EnergyTotal) Watts() float64 { return t.Joules / t.Seconds }

// PerToken is the energy per generated token, joules.
func (t EnergyTotal) PerToken() float64 { return t.Joules / float64(t.Tokens) }

// Energy returns the totals of the generations counted, and false when
// none had an energy figure.
func (l *Ledger) Energy() (EnergyTotal, bool) {
	t := l.total
	if t.Tokens == 0 || !(t.Seconds > 0) {
		return EnergyTotal{}, false
	}
	if len(l.idle) > 0 {
		t.IdleWatts = stats.Mean(l.idle)
	}
	return t, true
}

// generateMetered runs req, inside a meter window when m is set.
func generateMetered(ctx context.Context, dev Device, req device.GenerateRequest, m Meter) (*device.Generation, *Energy, error) {
	if m == nil {
		g, err := dev.Generate(ctx, req)
		return g, nil, err
	}
	if err := m.Begin(ctx); err != nil {
		return nil, nil, fmt.Errorf("meter %s: begin: %w", m.Name(), err)
	}
	g, err := dev.Generate(ctx, req)
	if err != nil {
		m.End(ctx, nil)
		return nil, nil, err
	}
	e, err := m.End(ctx, g)
	if err != nil {
		return nil, nil, fmt.Errorf("meter %s: %w", m.Name(), err)
	}
	if !(e.Joules >= 0 && e.Seconds > 0) || math.IsInf(e.Joules, 0) || math.IsInf(e.Seconds, 0) {
		return nil, nil, fmt.Errorf("meter %s: a window of %v J over %v s is not a measurement: check the meter's connection", m.Name(), e.Joules, e.Seconds)
	}
	if e.JoulesMin == 0 && e.JoulesMax == 0 {
		e.JoulesMin, e.JoulesMax = e.Joules, e.Joules
	}
	return g, &e, nil
}

// checkTokens fails a generation that returned fewer tokens than asked:
// its figures would describe a shorter generation than the one named.
func checkTokens(g *device.Generation, want int) error {
	if n := len(g.Tokens); n < want {
		return fmt.Errorf("the board returned %d of %d tokens (stopped: %s): ask for fewer tokens or a shorter prompt", n, want, g.Summary.Stop)
	}
	return nil
}

// plausibility is the envelope a board's figures are checked against: the
// device package's defaults, except that an emulated board's clock counts
// instructions (10^9 a second), so a tiny model's decode rate may pass any
// real chip's and is not bounded by one.
func plausibility(info *firmware.Info) device.Envelope {
	var env device.Envelope
	if info != nil && info.Capabilities.Emulated() {
		env.MaxTokensPerSecond = 1e9
	}
	return env
}
