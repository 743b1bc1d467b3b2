// Package monitor streams a board's resources — heap, PSRAM, CPU load,
// power — at an interval and evaluates alert rules against them, as the
// incident runbook's RealtimeMonitor does. It works on anything that
// answers METRICS: a *device.Device, a leased *hwtest.Board, a fake.
//
//	m := monitor.New(dev, monitor.Options{Interval: time.Second, Rules: rules.Rules})
//	err := m.Run(ctx, func(u monitor.Update) error {
//		for _, a := range u.Alerts { log.Printf("%s %s", a.Rule, a.State) }
//		return nil
//	})
//
// Figures from a simulated board are modelled, and every Sample says so.
package monitor

import (
	"context"

	"fmt"
	"math"
	"sort"
	"time"

	"github.com/tinyprof/tinyprof/firmware"
	"github.com/tinyprof/tinyprof/power"
	"github.com/tinyprof/tinyprof/runbook"
)

// Source is a board that reports its resources; *device.Device is one.
type Source interface {
	Metrics(ctx context.Context) (*firmware.Metrics, error)
	// Info is what the board reported at Hello; it gives capacities.
	Info() *firmware.Info
}

// Sample is one poll of the board.
type Sample struct {
	Time      time.Time `json:"time"`
	Board     string    `json:"board,omitempty"`
	Simulated bool      `json:"simulated"` // figures are modelled, not measured
	OK        bool      `json:"ok"`
	Error     string    `json:"error,omitempty"`

	HeapUsed      int64   `json:"heap_used"` // bytes
	HeapFree      int64   `json:"heap_free"`
	HeapCapacity  int64   `json:"heap_capacity"`
	PSRAMUsed     int64   `json:"psram_used,omitempty"`
	PSRAMCapacity int64   `json:"psram_capacity,omitempty"`
	CPULoad       float64 `json:"cpu_load_percent"`
	HasPower      bool    `json:"has_power"`
	PowerMW       float64 `json:"power_mw,omitempty"`
	// PowerSource says where PowerMW came from: "meter ppk2 …" (the
	// average since the previous sample) or "board" (its own METRICS).
	PowerSource string `json:"power_source,omitempty"`
	// PowerError is why a bound meter gave no figure this time.
	PowerError string `json:"power_error,omitempty"`
	UptimeUS   uint64 `json:"uptime_us,omitempty"`
}

// MemoryUsageKB returns the heap in use in KiB, as the runbook's
// RealtimeMonitor reports memory_usage_kb.
func (s Sample) MemoryUsageKB() float64 { return float64(s.HeapUsed) / 1024 }

// value returns metric m and its capacity (0 if none), and whether the
// sample has it.
func (s Sample) value(m Metric) (v, capacity float64, ok bool) {
	if !s.OK {
		return 0, 0, false
	}
	switch m {
	case HeapUsed:
		return float64(s.HeapUsed), float64(s.HeapCapacity), s.HeapCapacity > 0
	case HeapFree:
		return float64(s.HeapFree), float64(s.HeapCapacity), true
	case PSRAMUsed:
		return float64(s.PSRAMUsed), float64(s.PSRAMCapacity), s.PSRAMCapacity > 0
	case CPULoad:
		return s.CPULoad, 100, true
	case Power:
		return s.PowerMW, 0, s.HasPower
	}
	return 0, 0, false
}

// AlertState is whether an alert started or ended.
type AlertState string

// The alert states.
const (
	Firing  AlertState = "firing"
	Cleared AlertState = "cleared"
)

// Alert is a rule changing state.
type Alert struct {
	Rule      string           `json:"rule"`
	Metric    Metric           `json:"metric"`
	Severity  runbook.Severity `json:"severity"`
	State     AlertState       `json:"state"`
	Time      time.Time        `json:"time"`
	Value     float64          `json:"value"`     // the metric, in the threshold's terms (%, x, bytes…)
	Threshold string           `json:"threshold"` // as written
	Message   string           `json:"message"`
}

// Update is one sample and the alerts it changed.
type Update struct {
	Sample Sample   `json:"sample"`
	Alerts []Alert  `json:"alerts,omitempty"` // rules that started or stopped firing at this sample
	Firing []string `json:"firing,omitempty"` // every rule firing after this sample, sorted
}

// Options configures a Monitor. The zero value samples every second with
// no rules.
type Options struct {
	// Interval is the time between polls. Default 1s.
	Interval time.Duration
	// Rules are evaluated at every sample.
	Rules []Rule
	// Board names the board in samples.
	Board string
	// BaselineSamples is how many first good samples of a metric make the
	// baseline of an "x baseline" rule that gives none. Default 5.
	BaselineSamples int
	// History bounds the samples kept for windows. Default 10,000.
	History int
	// Power, if set, is a meter on the board's supply; its average since
	// the previous sample replaces the board's own power reading.
	Power PowerSource
}

// PowerSource is a power meter read continuously, such as *power.Averager.
type PowerSource interface {
	// Take returns the average power since the previous Take and the
	// number of samples behind it.
	Take() (power.Power, int64, error)
	Info() power.Info
}

// Monitor polls one board. Its methods must be called from one goroutine.
type Monitor struct {
	src   Source
	opts  Options
	hist  []Sample
	rules []*ruleState
}

type ruleState struct {
	Rule
	firing    bool
	since     time.Time // start of the current run of true conditions
	baseline  []float64
	lastValue float64
}

// New returns a Monitor of src. It does not poll until Sample or Run.
func New(src Source, opts Options) *Monitor {
	if opts.Interval <= 0 {
		opts.Interval = time.Second
	}
	if opts.BaselineSamples <= 0 {
		opts.BaselineSamples = 5
	}
	if opts.History <= 0 {
		opts.History = 10_000
	}
	m := &Monitor{src: src, opts: opts}
	for _, r := range opts.Rules {
		m.rules = append(m.rules, &ruleState{Rule: r})
	}
	return m
}

// Sample polls the board once, at most the Source's own timeout, and
// evaluates the rules. A failed poll is a Sample with OK false: it counts
// for connection failure rates and leaves level alerts as they were.
func (m *Monitor) Sample(ctx context.Context) Update {
	s := Sample{Time: time.Now(), Board: m.opts.Board}
	info := m.src.Info()
	if info != nil {
		s.Simulated = info.Capabilities.Simulated()
	}
	met, err := m.src.Metrics(ctx)
	if err != nil {
		s.Error = err.Error()
	} else {
		s.OK = true
		s.HeapFree = int64(met.FreeHeap)
		s.CPULoad = float64(met.CPULoad) / 10
		s.UptimeUS = met.UptimeUS
		if met.HasPower {
			s.HasPower, s.PowerMW, s.PowerSource = true, float64(met.PowerUW)/1000, "board"
		}
		if info != nil {
			s.HeapCapacity = int64(info.SRAM)
			s.HeapUsed = max(0, s.HeapCapacity-s.HeapFree)
			if info.PSRAM > 0 {
				s.PSRAMCapacity = int64(info.PSRAM)
				s.PSRAMUsed = max(0, s.PSRAMCapacity-int64(met.PSRAMFree))
			}
		}
	}
	if m.opts.Power != nil {
		m.meterPower(&s)
	}
	return m.Observe(s)
}

// meterPower puts the bound meter's average into s, or says why it has none.
func (m *Monitor) meterPower(s *Sample) {
	p, n, err := m.opts.Power.Take()
	info := m.opts.Power.Info()
	if err != nil {
		s.PowerError = err.Error()
		return
	}
	src := fmt.Sprintf("meter %s on %s, %d samples", info.Kind, info.Port, n)
	if info.Simulated {
		src += ", simulated"
	}
	s.HasPower, s.PowerMW, s.PowerSource = true, float64(p)*1000, src
}

// Observe adds a sample taken elsewhere (or in a test) and evaluates the
// rules against it. Samples must come in time order.
func (m *Monitor) Observe(s Sample) Update {
	m.hist = append(m.hist, s)
	if len(m.hist) > m.opts.History {
		m.hist = append(m.hist[:0:0], m.hist[len(m.hist)-m.opts.History:]...)
	}
	u := Update{Sample: s}
	for _, r := range m.rules {
		if a, changed := m.evaluate(r, s); changed {
			u.Alerts = append(u.Alerts, a)
		}
		if r.firing {
			u.Firing = append(u.Firing, r.Name)
		}
	}
	sort.Strings(u.Firing)
	return u
}

// Firing returns the rules firing now.
func (m *Monitor) Firing() []string {
	var out []string
	for _, r := range m.rules {
		if r.firing {
			out = append(out, r.Name)
		}
	}
	sort.Strings(out)
	return out
}

// evaluate updates r with sample s and reports a state change.
func (m *Monitor) evaluate(r *ruleState, s Sample) (Alert, bool) {
	var v float64
	var cond, known bool
	if r.Metric.isRate() {
		v, known = m.failureRate(r, s.Time)
		cond = known && r.compare(v, r.Value)
	} else {
		raw, capacity, ok := s.value(r.Metric)
		if !ok || (r.Unit == OfCapacity && capacity <= 0) {
			// No reading: the alert keeps its state, but the run of
			// true conditions is broken, so that a window is never
			// taken to have held across polls that saw nothing.
			r.since = time.Time{}
			return Alert{}, false
		}
		switch r.Unit {
		case OfCapacity:
			v, known = 100*raw/capacity, true
		case XBaseline:
			base := r.Baseline
			if base <= 0 {
				if len(r.baseline) < m.opts.BaselineSamples {
					r.baseline = append(r.baseline, raw)
					return Alert{}, false // still learning the baseline
				}
				base = median(r.baseline)
			}
			if base > 0 {
				v, known = raw/base, true
			}
		default:
			v, known = raw, true
		}
		cond = known && r.compare(v, r.Value)
		if cond {
			if r.since.IsZero() {
				r.since = s.Time
			}
			// The window delays firing, not staying fired: an alert that
			// fired and still holds after a gap keeps firing.
			cond = r.firing || s.Time.Sub(r.since) >= r.Window
		} else {
			r.since = time.Time{}
		}
	}
	if !known {
		return Alert{}, false
	}
	r.lastValue = v
	if cond == r.firing {
		return Alert{}, false
	}
	r.firing = cond
	a := Alert{Rule: r.Name, Metric: r.Metric, Severity: r.Severity, Time: s.Time, Value: v, Threshold: r.Text}
	if cond {
		a.State = Firing
		a.Message = fmt.Sprintf("%s %s: %s is %s (threshold %s)", r.Severity, r.Name, r.Metric, r.format(v), r.Text)
	} else {
		a.State = Cleared
		a.Message = fmt.Sprintf("%s cleared: %s is %s (threshold %s)", r.Name, r.Metric, r.format(v), r.Text)
	}
	return a, true
}

// failureRate is the percentage of failed polls in the rule's window
// ending at now, over however many polls the window holds. It is known
// once the window holds enough polls for one failure not to be a rate on
// its own (100/Value of them, 20 for 5%, but never more than the window
// can hold at the interval), or once the monitor has watched for about
// the whole window (one interval short, as the window's first poll may
// fall just outside it): a dead board whose polls each wait out a
// timeout leaves only a few polls in a window, all of them failed, and
// that must fire. Rule.PollNote says at load time when a window holds so
// few polls that one failure crosses the threshold.
func (m *Monitor) failureRate(r *ruleState, now time.Time) (float64, bool) {
	total, failed := 0, 0
	for i := len(m.hist) - 1; i >= 0 && now.Sub(m.hist[i].Time) < r.Window; i-- {
		total++
		if !m.hist[i].OK {
			failed++
		}
	}
	need := max(1, int(r.Window/m.opts.Interval))
	if r.Value > 0 {
		need = min(need, int(math.Ceil(100/r.Value)))
	}
	watched := len(m.hist) > 0 && now.Sub(m.hist[0].Time) >= r.Window-m.opts.Interval
	if total == 0 || (total < need && !watched) {
		return 0, false
	}
	return 100 * float64(failed) / float64(total), true
}

func (r *ruleState) format(v float64) string {
	switch {
	case r.Unit == OfCapacity || r.Metric == CPULoad || r.Metric.isRate():
		return fmt.Sprintf("%.1f%%", v)
	case r.Unit == XBaseline:
		return fmt.Sprintf("%.2fx baseline", v)
	case r.Metric.isMemory():
		return fmt.Sprintf("%.1f KiB", v/1024)
	case r.Metric == Power:
		return fmt.Sprintf("%.1f mW", v)
	}
	return fmt.Sprintf("%g", v)
}

// Run polls every Interval until ctx is done, calling fn with each update
// from Run's goroutine. It returns nil when ctx ends (a --duration is
// over) and fn's error if fn fails.
func (m *Monitor) Run(ctx context.Context, fn func(Update) error) error {
	t := time.NewTicker(m.opts.Interval)
	defer t.Stop()
	for {
		u := m.Sample(ctx)
		if ctx.Err() != nil {
			return nil // the poll was cut short by the end: not a sample
		}
		if err := fn(u); err != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

func median(v []float64) float64 {
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}
