package journal

import (
	"math"
	"sort"
	"time"

	"github.com/tinyprof/tinyprof/runbook"
)

// Threshold is one of the incident runbook's alert thresholds, as
// BuildReport applies it to journal events.
type Threshold struct {
	// Name is the runbook's key, e.g. "device_connection_failure_rate".
	Name string
	// Text is the runbook's wording, e.g. "> 5% over 5 minutes".
	Text string
	// Kind is the event kind measured.
	Kind Kind
	// Limit is the fraction (failure rates, memory) or ratio (latency
	// against baseline) that must be exceeded.
	Limit float64
	// Window is the sliding window of a failure rate; 0 for per-event
	// thresholds.
	Window time.Duration
	// Severity is the incident severity a breach carries.
	Severity runbook.Severity
	// Incident is the runbook's quick-reference row: "Device Connection",
	// "Model Loading", "Performance".
	Incident string
	// FirstAction is the runbook's first action for that row, and Command
	// the tinyprof command that carries it out.
	FirstAction string
	Command     string
	// Escalation is the runbook's escalation time for that row.
	Escalation time.Duration
}

// RunbookThresholds returns the incident runbook's alert thresholds
// (docs/runbooks/incident-response.md of the project this one grew from,
// "Alert Thresholds" and "Quick Reference"):
//
//	device_connection_failure_rate  > 5% over 5 minutes   P2
//	model_loading_failure_rate      > 10% over 10 minutes P1
//	inference_latency_p95           > 2x baseline         P2
//	memory_usage                    > 90% of device capacity P1
func RunbookThresholds() []Threshold {
	return []Threshold{
		{Name: "device_connection_failure_rate", Text: "> 5% over 5 minutes", Kind: KindConnect, Limit: 0.05, Window: 5 * time.Minute, Severity: runbook.P2,
			Incident: "Device Connection", FirstAction: "Check physical connection", Command: "tiny-profiler detect-devices; tiny-profiler test-connection --device PORT", Escalation: 15 * time.Minute},
		{Name: "model_loading_failure_rate", Text: "> 10% over 10 minutes", Kind: KindModelLoad, Limit: 0.10, Window: 10 * time.Minute, Severity: runbook.P1,
			Incident: "Model Loading", FirstAction: "Verify model size/format", Command: "tiny-profiler analyze-model FILE --platform P", Escalation: 30 * time.Minute},
		{Name: "inference_latency_p95", Text: "> 2x baseline", Kind: KindInference, Limit: 2, Severity: runbook.P2,
			Incident: "Performance", FirstAction: "Run baseline benchmark", Command: "tiny-profiler benchmark --device PORT", Escalation: 20 * time.Minute},
		{Name: "memory_usage", Text: "> 90% of device capacity", Kind: KindMemory, Limit: 0.90, Severity: runbook.P1,
			Incident: "Performance", FirstAction: "Run baseline benchmark", Command: "tiny-profiler monitor --device PORT", Escalation: 20 * time.Minute},
	}
}

// Finding is a threshold measured over a report's window.
type Finding struct {
	Threshold Threshold
	// Samples is how many events were measured (for a failure rate, how
	// many attempts they record); 0 means no data, and the threshold
	// cannot have been crossed.
	Samples int
	// Worst is the worst value seen: a failure fraction, a latency ratio
	// or a memory fraction.
	Worst float64
	// Breached reports whether Worst exceeds the threshold.
	Breached bool
	// Undetermined reports that the events could not show whether the
	// threshold was crossed (a failure rate with too few attempts in any
	// window): neither a breach nor a pass. Detail says why.
	Undetermined bool
	// At is when the worst value was seen; Detail says how it was
	// measured; Boards are the boards whose events crossed the threshold.
	At     time.Time
	Detail string
	Boards []string
}

// failed reports whether e records a failure: details ok=false, or an
// error or incident severity.
func failed(e *Event) bool {
	if ok, has := e.Bool("ok"); has {
		return !ok
	}
	return e.Severity.Rank() >= runbook.Error.Rank()
}

// measureRate slides th.Window over the events of th.Kind in [since,
// until], ending a window at each event, and finds the worst failure
// fraction. The verdict rests on the windows alone, never on the rate over
// the whole period, which would dilute a burst in hours of quiet.
//
// A window holding fewer than 1/Limit attempts (20 for 5%) is too small
// for its fraction to be a rate (one failure among the first three
// attempts is not 33%), so it is judged as if the attempts it lacks had
// succeeded: k failures of n < 1/Limit attempts breach only when k of
// 1/Limit would. Five failures of five attempts within five minutes
// breach the 5% threshold that way; one of three does not. When no window
// holds enough attempts and none breaches, the finding is Undetermined:
// neither a breach nor a pass, with the whole period's rate as context.
// An event may sum several attempts (see weight): a monitor journals a
// run of polls as one event.
func measureRate(th Threshold, events []Event, since, until time.Time) Finding {
	f := Finding{Threshold: th}
	var evs []*Event
	for i := range events {
		e := &events[i]
		if e.Kind == th.Kind && !e.Time.Before(since) && !e.Time.After(until) {
			evs = append(evs, e)
		}
	}
	sort.SliceStable(evs, func(a, b int) bool { return evs[a].Time.Before(evs[b].Time) })
	f.Samples = len(evs)
	if f.Samples == 0 {
		return f
	}
	minSamples := int(math.Ceil(1/th.Limit - 1e-9))
	lo, fails, total, allFails, allTotal := 0, 0, 0, 0, 0
	worstFails, worstTotal := -1, 0
	for _, e := range evs {
		n, k := weight(e)
		fails, total = fails+k, total+n
		allFails, allTotal = allFails+k, allTotal+n
		for !evs[lo].Time.After(e.Time.Add(-th.Window)) {
			n, k := weight(evs[lo])
			fails, total = fails-k, total-n
			lo++
		}
		// Below minSamples, the rate as if the missing attempts succeeded.
		r := float64(fails) / float64(max(total, minSamples))
		if total < minSamples && r <= th.Limit {
			continue
		}
		// On a tie with a window too small to be a rate, the one with
		// more attempts says more.
		if worstFails < 0 || r > f.Worst || (r == f.Worst && worstTotal < minSamples && total > worstTotal) {
			f.Worst, f.At, worstFails, worstTotal = r, e.Time, fails, total
		}
	}
	f.Samples = allTotal
	window := ftoa(th.Window.Minutes(), 0) + "-minute"
	if worstFails < 0 {
		f.Undetermined = true
		f.Detail = "too few attempts in any " + window + " window to judge (" + itoa(allFails) + " failed of " + itoa(allTotal) +
			"); over the whole period " + ftoa(100*float64(allFails)/float64(max(allTotal, 1)), 1) + "%"
		return f
	}
	f.Detail = pct(worstFails, worstTotal) + " in the " + th.Window.String() + " to " + f.At.UTC().Format(time.RFC3339)
	if worstTotal < minSamples {
		f.Detail += " (fewer than " + itoa(minSamples) + " attempts: over " + itoa(minSamples) + " it would still be " +
			ftoa(100*f.Worst, 1) + "%)"
	}
	f.Breached = f.Worst > th.Limit
	if f.Breached {
		seen := map[string]bool{}
		for _, e := range evs {
			if failed(e) && !seen[e.Board] && e.Board != "" {
				seen[e.Board] = true
				f.Boards = append(f.Boards, e.Board)
			}
		}
		sort.Strings(f.Boards)
	}
	return f
}

// weight returns how many attempts e records and how many of them
// failed: Details "attempts" and "failed" when e sums several (a
// monitor's run of polls), else one attempt, failed or not.
func weight(e *Event) (attempts, fails int) {
	if n, ok := e.Number("attempts"); ok && n >= 1 && n <= 1e9 {
		k, _ := e.Number("failed")
		return int(n), int(min(max(k, 0), n))
	}
	if failed(e) {
		return 1, 1
	}
	return 1, 0
}

func pct(n, total int) string {
	return itoa(n) + " of " + itoa(total) + " failed (" + ftoa(100*float64(n)/float64(max(total, 1)), 1) + "%)"
}

// measureLatency compares each inference p95 in [since, until] with its
// baseline: Details baseline_ms, else the median p95 of the same board's
// earlier inference events (history before since counts).
func measureLatency(th Threshold, events []Event, since, until time.Time) Finding {
	f := Finding{Threshold: th}
	history := map[string][]float64{}
	boards := map[string]bool{}
	for i := range events {
		e := &events[i]
		if e.Kind != th.Kind || e.Time.After(until) {
			continue
		}
		p95, ok := e.Number("p95_ms")
		if !ok || p95 <= 0 {
			continue
		}
		base, hasBase := e.Number("baseline_ms")
		if !hasBase || base <= 0 {
			if h := history[e.Board]; len(h) > 0 {
				base, hasBase = median(h), true
			}
		}
		history[e.Board] = append(history[e.Board], p95)
		if e.Time.Before(since) || !hasBase {
			continue
		}
		f.Samples++
		r := p95 / base
		if r > th.Limit {
			boards[e.Board] = true
		}
		if r > f.Worst {
			f.Worst, f.At = r, e.Time
			f.Detail = "p95 " + ftoa(p95, 1) + " ms against a baseline of " + ftoa(base, 1) + " ms (" + ftoa(r, 2) + "x) on " + orHost(e.Board) + provenance(e)
		}
	}
	f.Breached = f.Worst > th.Limit
	f.Boards = sortedKeys(boards)
	return f
}

// measureMemory finds the highest used/capacity fraction in [since, until].
func measureMemory(th Threshold, events []Event, since, until time.Time) Finding {
	f := Finding{Threshold: th}
	boards := map[string]bool{}
	for i := range events {
		e := &events[i]
		if e.Kind != th.Kind || e.Time.Before(since) || e.Time.After(until) {
			continue
		}
		used, ok1 := e.Number("used")
		capacity, ok2 := e.Number("capacity")
		if !ok1 || !ok2 || capacity <= 0 {
			continue
		}
		f.Samples++
		r := used / capacity
		if r > th.Limit {
			boards[e.Board] = true
		}
		if r > f.Worst {
			f.Worst, f.At = r, e.Time
			region := e.Text("region")
			if region == "" {
				region = "memory"
			}
			f.Detail = region + " " + ftoa(used/1024, 1) + " KiB used of " + ftoa(capacity/1024, 1) + " KiB (" + ftoa(100*r, 1) + "%) on " + orHost(e.Board) + provenance(e)
		}
	}
	f.Breached = f.Worst > th.Limit
	f.Boards = sortedKeys(boards)
	return f
}

func median(v []float64) float64 {
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

func sortedKeys(m map[string]bool) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// provenance marks a figure from a simulated or emulated board.
func provenance(e *Event) string {
	if v, _ := e.Bool("simulated"); v {
		return " (simulated: modelled, not measured)"
	}
	if v, _ := e.Bool("emulated"); v {
		return " (emulated)"
	}
	return ""
}

func orHost(board string) string {
	if board == "" {
		return "the host"
	}
	return board
}
