package power

import (
	"fmt"
	"math"
	"sort"
	"time"
)

// Window is an interval on a meter's clock over which energy is integrated,
// typically one generation.
type Window struct {
	Start, End time.Duration
	// Uncertainty is how far each edge may lie from the true start or end:
	// half a sample period for an edge seen on a logic input, the clock
	// alignment's uncertainty for a window placed by timestamps.
	Uncertainty time.Duration
	// Source says how the window was found: "logic D0", "event D7",
	// "clock alignment".
	Source string
}

// Duration returns the window's length.
func (w Window) Duration() time.Duration { return w.End - w.Start }

// Result is the energy drawn over one window.
type Result struct {
	Window Window `json:"window"`
	// Energy is the trapezoid integral of current × voltage over the window.
	Energy Energy `json:"energy_j"`
	// EnergyMin and EnergyMax bound the true energy given the window's
	// uncertainty (the window shrunk and grown by it at both ends), any
	// lost samples inside it (taken as drawing between nothing and the
	// peak power), and the meter's own error on each sample
	// (Sample.CurrentError, taken at its worst: all in one direction).
	EnergyMin Energy `json:"energy_min_j"`
	EnergyMax Energy `json:"energy_max_j"`
	// Average is Energy over the window's duration; Peak the largest
	// sampled power inside it.
	Average Power `json:"average_w"`
	Peak    Power `json:"peak_w"`
	// Samples is how many samples lie inside the window.
	Samples int `json:"samples"`
	// Missing is the time inside the window bridged by interpolation over
	// lost samples.
	Missing time.Duration `json:"missing_ns"`
}

// PerToken returns the energy per token for a window in which the board
// produced tokens tokens.
func (r Result) PerToken(tokens int) (Energy, error) {
	if tokens <= 0 {
		return 0, &Error{Op: "energy per token", Code: CodeBadArgument,
			Err: fmt.Errorf("%d tokens", tokens), Hint: "a generation that produced no token has no energy per token"}
	}
	return r.Energy / Energy(tokens), nil
}

// String summarises the result, e.g. "12.5mJ (12.4mJ–12.6mJ) over 1.2s, avg 10.4mW, peak 15mW, 120000 samples".
func (r Result) String() string {
	s := fmt.Sprintf("%v (%v–%v) over %v, avg %v, peak %v, %d samples",
		r.Energy, r.EnergyMin, r.EnergyMax, r.Window.Duration(), r.Average, r.Peak, r.Samples)
	if r.Missing > 0 {
		s += fmt.Sprintf(", %v lost", r.Missing)
	}
	return s
}

// Integrate returns the energy drawn over window w from samples, which
// must be in time order (as every Meter delivers them). The integral is a
// trapezoid on current × voltage, with the power at each edge of the
// window interpolated between the samples either side.
//
// Integrate never makes a figure up: it fails with ErrNoSamples when the
// window holds no sample or lies outside the samples' span, and with
// ErrNoVoltage when a sample in it has no voltage. Its cost is O(log n)
// to find the window plus O(k) for the k samples inside it.
func Integrate(samples []Sample, w Window) (Result, error) {
	if w.End <= w.Start {
		return Result{}, &Error{Op: "integrate", Code: CodeBadArgument,
			Err: fmt.Errorf("window [%v, %v] is empty or reversed", w.Start, w.End)}
	}
	if w.Uncertainty < 0 {
		return Result{}, &Error{Op: "integrate", Code: CodeBadArgument, Err: fmt.Errorf("negative uncertainty %v", w.Uncertainty)}
	}
	if len(samples) == 0 {
		return Result{}, noSamples(w, "the trace is empty", "start the meter before the generation and stop it after")
	}
	first, last := samples[0].Time, samples[len(samples)-1].Time
	if w.Start < first || w.End > last {
		return Result{}, noSamples(w, fmt.Sprintf("the samples cover only [%v, %v]", first, last),
			"record longer: start the meter before the generation and stop it after the window ends")
	}
	seg := span(samples, w.Start, w.End)
	if seg.inside == 0 {
		return Result{}, noSamples(w, "no sample falls inside the window", "the window is shorter than the sampling period: raise the meter's rate")
	}
	if seg.noVoltage {
		return Result{}, &Error{Op: "integrate", Code: CodeNoVoltage,
			Err:  fmt.Errorf("a sample in [%v, %v] has no voltage", w.Start, w.End),
			Hint: "use the meter in source mode, or declare the supply voltage of the device under test"}
	}
	res := Result{Window: w, Energy: Energy(seg.energy), Peak: Power(seg.peak), Samples: seg.inside, Missing: seg.missing}
	res.Average = Power(seg.energy / w.Duration().Seconds())

	// The meter's error counts at its worst over the window that gives
	// each bound: the shrunk one for the minimum, the grown one for the
	// maximum.
	lo := seg.energy - seg.gapEnergy - seg.errEnergy
	hi := seg.energy - seg.gapEnergy + seg.peak*seg.missing.Seconds() + seg.errEnergy
	if u := w.Uncertainty; u > 0 {
		if a, b := w.Start+u, w.End-u; a < b {
			in := span(samples, a, b)
			lo = in.energy - seg.gapEnergy - in.errEnergy
		} else {
			lo = 0
		}
		out := span(samples, max(w.Start-u, first), min(w.End+u, last))
		hi = out.energy - seg.gapEnergy + seg.peak*seg.missing.Seconds() + out.errEnergy
	}
	res.EnergyMin, res.EnergyMax = Energy(math.Max(lo, 0)), Energy(math.Max(hi, seg.energy))
	return res, nil
}

// Idle returns the average power over w, a window in which the board did
// nothing (measured before the run), so that reports can give it apart
// from the energy of the generations.
func Idle(samples []Sample, w Window) (Power, error) {
	r, err := Integrate(samples, w)
	if err != nil {
		return 0, fmt.Errorf("idle power: %w", err)
	}
	return r.Average, nil
}

func noSamples(w Window, why, hint string) error {
	return &Error{Op: "integrate", Code: CodeNoSamples, Err: fmt.Errorf("window [%v, %v]: %s", w.Start, w.End, why), Hint: hint}
}

// segment is the integral of the samples over [a, b].
type segment struct {
	energy    float64 // joules
	gapEnergy float64 // the part of energy interpolated across lost samples
	errEnergy float64 // the integral of the meter's error, Sample.CurrentError × voltage
	peak      float64 // watts, over samples inside [a, b]
	inside    int
	missing   time.Duration
	noVoltage bool
}

// span integrates the power of samples over [a, b], which must lie within
// the samples' span.
func span(s []Sample, a, b time.Duration) segment {
	var seg segment
	// i is the first sample at or after a.
	i := sort.Search(len(s), func(k int) bool { return s[k].Time >= a })
	t0, p0, r0 := a, interpolate(s, i, a, samplePower), interpolate(s, i, a, powerError)
	for ; i < len(s) && s[i].Time <= b; i++ {
		p, r := samplePower(s[i]), powerError(s[i])
		if s[i].Voltage == 0 {
			seg.noVoltage = true
		}
		seg.inside++
		seg.peak = math.Max(seg.peak, p)
		dt := (s[i].Time - t0).Seconds()
		e := (p0 + p) / 2 * dt
		seg.energy += e
		seg.errEnergy += (r0 + r) / 2 * dt
		if s[i].Gap && i > 0 && s[i].Time > a {
			seg.gapEnergy += e
			seg.missing += s[i].Time - t0
		}
		t0, p0, r0 = s[i].Time, p, r
	}
	if t0 < b && i < len(s) {
		p, r := interpolate(s, i, b, samplePower), interpolate(s, i, b, powerError)
		dt := (b - t0).Seconds()
		e := (p0 + p) / 2 * dt
		seg.energy += e
		seg.errEnergy += (r0 + r) / 2 * dt
		if s[i].Gap {
			seg.gapEnergy += e
			seg.missing += b - t0
		}
	}
	return seg
}

func samplePower(s Sample) float64 { return float64(s.Power()) }

// powerError bounds the error on a sample's power that comes from the
// meter's error on its current.
func powerError(s Sample) float64 { return math.Abs(float64(s.CurrentError.Times(s.Voltage))) }

// interpolate returns f (the power, or its error) at time t, where s[i]
// is the first sample at or after t. The interpolated power is a weighted
// mean of two readings, so the same mean of their errors bounds its error.
func interpolate(s []Sample, i int, t time.Duration, f func(Sample) float64) float64 {
	if i >= len(s) {
		return f(s[len(s)-1])
	}
	if s[i].Time == t || i == 0 {
		return f(s[i])
	}
	a, b := s[i-1], s[i]
	k := float64(t-a.Time) / float64(b.Time-a.Time)
	return f(a) + k*(f(b)-f(a))
}
