package power

import (
	"fmt"
	"time"
)

// LogicWindows returns the windows during which logic input bit (0–7) was
// high: the board raises a GPIO wired to the meter's logic input (PPK2
// D0–D7) when a generation starts and lowers it when it ends. Each edge is
// placed midway between the samples either side of it, with half their
// spacing as uncertainty. A window already open at the first sample or
// still open at the last is incomplete and left out.
func LogicWindows(samples []Sample, bit uint) ([]Window, error) {
	if bit > 7 {
		return nil, &Error{Op: "logic windows", Code: CodeBadArgument, Err: fmt.Errorf("logic input D%d: the meter has D0–D7", bit)}
	}
	mask := uint8(1) << bit
	var out []Window
	var open bool
	var cur Window
	for i := 1; i < len(samples); i++ {
		prev, s := samples[i-1], samples[i]
		if !prev.HasLogic || !s.HasLogic {
			return nil, &Error{Op: "logic windows", Code: CodeProtocol, Err: fmt.Errorf("sample at %v carries no logic inputs", s.Time),
				Hint: "this meter has no logic port: align by clock, or use its event input"}
		}
		was, is := prev.Logic&mask != 0, s.Logic&mask != 0
		if was == is {
			continue
		}
		edge, unc := prev.Time+(s.Time-prev.Time)/2, (s.Time-prev.Time+1)/2
		if is {
			cur, open = Window{Start: edge, Uncertainty: unc, Source: fmt.Sprintf("logic D%d", bit)}, true
			continue
		}
		if open {
			cur.End, cur.Uncertainty = edge, max(cur.Uncertainty, unc)
			out = append(out, cur)
			open = false
		}
	}
	return out, nil
}

// MarkerWindows pairs consecutive timestamp events (Sample.Marker, an
// LPM01A "event" line on D7) into windows, first with second, third with
// fourth, as MLPerf Tiny's runner delimits its energy windows. An odd
// number of markers is an error: a stray edge would shift every window
// after it.
func MarkerWindows(samples []Sample, period time.Duration) ([]Window, error) {
	var marks []time.Duration
	for _, s := range samples {
		if s.Marker {
			marks = append(marks, s.Time)
		}
	}
	if len(marks)%2 != 0 {
		return nil, &Error{Op: "marker windows", Code: CodeProtocol, Err: fmt.Errorf("%d timestamp events: they must come in start/end pairs", len(marks)),
			Hint: "check the event wiring for glitches, and that the board pulses the line once at the start and once at the end of each generation"}
	}
	out := make([]Window, 0, len(marks)/2)
	for i := 0; i+1 < len(marks); i += 2 {
		out = append(out, Window{Start: marks[i], End: marks[i+1], Uncertainty: period, Source: "event D7"})
	}
	return out, nil
}

// Alignment maps times on one clock (remote: a board or a meter) to
// another (local), local = remote + Offset, within ±Uncertainty at the time
// of alignment, growing by DriftPPM parts per million of the time elapsed
// since At (remote time) to cover the two crystals' drift.
type Alignment struct {
	Offset      time.Duration
	Uncertainty time.Duration
	At          time.Duration
	DriftPPM    float64
}

// RoundTrip aligns a remote clock read in one request: the local clock
// read localSent before sending and localReceived after the answer that
// carried remote. The remote reading happened somewhere in between, so the
// offset is taken at the midpoint and the uncertainty is half the round
// trip (the NTP bound for an unknown split of the delay).
func RoundTrip(localSent, localReceived, remote time.Duration, driftPPM float64) (Alignment, error) {
	if localReceived < localSent {
		return Alignment{}, &Error{Op: "align clocks", Code: CodeBadArgument, Err: fmt.Errorf("answer at %v before request at %v", localReceived, localSent)}
	}
	mid := localSent + (localReceived-localSent)/2
	return Alignment{Offset: mid - remote, Uncertainty: (localReceived - localSent + 1) / 2, At: remote, DriftPPM: driftPPM}, nil
}

// Best returns the alignment with the smallest uncertainty, the usual way
// to pick among several round trips.
func Best(as ...Alignment) Alignment {
	best := as[0]
	for _, a := range as[1:] {
		if a.Uncertainty < best.Uncertainty {
			best = a
		}
	}
	return best
}

// Then composes two alignments: a maps clock A to clock B and b maps B to
// C; the result maps A to C with the uncertainties added.
func (a Alignment) Then(b Alignment) Alignment {
	return Alignment{Offset: a.Offset + b.Offset, Uncertainty: a.Uncertainty + b.Uncertainty, At: a.At, DriftPPM: a.DriftPPM + b.DriftPPM}
}

// Local maps remote time t and returns the uncertainty at t.
func (a Alignment) Local(t time.Duration) (time.Duration, time.Duration) {
	el := t - a.At
	if el < 0 {
		el = -el
	}
	return t + a.Offset, a.Uncertainty + time.Duration(float64(el)*a.DriftPPM/1e6)
}

// Window places a generation timed on the remote clock (for a board, the
// GEN_DONE start and end in board microseconds) on the local clock (the
// meter's), with the larger of the two edges' uncertainties.
func (a Alignment) Window(start, end time.Duration) Window {
	s, us := a.Local(start)
	e, ue := a.Local(end)
	return Window{Start: s, End: e, Uncertainty: max(us, ue), Source: "clock alignment"}
}
