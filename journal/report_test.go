package journal

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tinyprof/tinyprof/runbook"
)

// attempts returns n events of kind k a second apart from start on board,
// the ones whose index is in fail failed.
func attempts(k Kind, board string, start time.Time, n int, fail ...int) []Event {
	var out []Event
	for i := range n {
		ok := true
		for _, f := range fail {
			ok = ok && f != i
		}
		out = append(out, Event{Time: start.Add(time.Duration(i) * time.Second), Board: board, Kind: k, Details: map[string]any{"ok": ok}})
	}
	return out
}

func TestBuildReportThresholds(t *testing.T) {
	since, until := t0, t0.Add(2*time.Hour)
	tests := []struct {
		name     string
		events   []Event
		severity runbook.Severity
		crossed  []string
	}{
		{"empty window", nil, "", nil},
		{"connections all fine", attempts(KindConnect, "a", t0, 40), "", nil},
		{"1 of 40 connections failed is 2.5%: under 5%", attempts(KindConnect, "a", t0, 40, 7), "", nil},
		{"3 of 40 connections failed is 7.5%: P2", attempts(KindConnect, "a", t0, 40, 1, 2, 3), runbook.P2, []string{"device_connection_failure_rate"}},
		{"failures spread beyond 5 minutes are not one window",
			append(append(attempts(KindConnect, "a", t0, 20, 0), attempts(KindConnect, "a", t0.Add(10*time.Minute), 20, 0)...), attempts(KindConnect, "a", t0.Add(20*time.Minute), 20, 0)...),
			"", nil},
		{"model loads 2 of 10 failed: P1", attempts(KindModelLoad, "b", t0, 10, 4, 5), runbook.P1, []string{"model_loading_failure_rate"}},
		{"latency 2.5x the board's earlier p95: P2", []Event{
			{Time: t0.Add(-time.Hour), Board: "a", Kind: KindInference, Details: map[string]any{"p95_ms": 50.0}},
			{Time: t0.Add(time.Minute), Board: "a", Kind: KindInference, Details: map[string]any{"p95_ms": 125.0}},
		}, runbook.P2, []string{"inference_latency_p95"}},
		{"latency 1.5x an explicit baseline", []Event{
			{Time: t0.Add(time.Minute), Board: "a", Kind: KindInference, Details: map[string]any{"p95_ms": 75.0, "baseline_ms": 50.0}},
		}, "", nil},
		{"memory 95% of capacity: P1", []Event{
			{Time: t0.Add(time.Minute), Board: "a", Kind: KindMemory, Details: map[string]any{"used": 95.0, "capacity": 100.0, "region": "heap"}},
		}, runbook.P1, []string{"memory_usage"}},
		{"an alert that fired sets the severity", []Event{
			{Time: t0.Add(time.Minute), Board: "a", Kind: KindAlert, Severity: runbook.P3, Details: map[string]any{"rule": "cpu", "state": "firing"}},
		}, runbook.P3, nil},
		{"events outside the window do not count", attempts(KindConnect, "a", t0.Add(-time.Hour), 10, 1, 2, 3), "", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := BuildReport(&Result{Events: tt.events}, since, until)
			assert.Equal(t, tt.severity, r.Severity)
			var crossed []string
			for _, f := range r.Findings {
				if f.Breached {
					crossed = append(crossed, f.Threshold.Name)
				}
			}
			assert.Equal(t, tt.crossed, crossed)
			var md strings.Builder
			require.NoError(t, r.WriteMarkdown(&md))
			if tt.severity == "" {
				assert.Contains(t, md.String(), "**Severity: none.**")
			} else {
				assert.Contains(t, md.String(), "**Severity: "+string(tt.severity)+"**")
			}
		})
	}
}

// spread returns n events of kind k spread evenly over d from start on
// board, the ones whose index is in fail failed.
func spread(k Kind, board string, start time.Time, d time.Duration, n int, fail ...int) []Event {
	out := attempts(k, board, start, n, fail...)
	for i := range out {
		out[i].Time = start.Add(d * time.Duration(i) / time.Duration(n))
	}
	return out
}

// TestFailureRateIsJudgedInWindows: the runbook's "over 5 minutes" is a
// sliding window over the events; the rate over the whole report period
// is never the verdict.
func TestFailureRateIsJudgedInWindows(t *testing.T) {
	since, until := t0, t0.Add(2*time.Hour)
	// 200 successful connections over two hours, about 8 in any 5
	// minutes: never the 20 attempts a 5% rate needs.
	quiet := spread(KindConnect, "a", since, 2*time.Hour, 200)
	tests := []struct {
		name         string
		events       []Event
		breached     bool
		undetermined bool
		detail       string
	}{
		{"a burst of 5 failures of 5 within 5 minutes breaches among quiet hours",
			append(slices.Clone(quiet), attempts(KindConnect, "b", t0.Add(time.Hour+time.Second), 5, 0, 1, 2, 3, 4)...),
			true, false, "5 of 14 failed (35.7%) in the 5m0s to 2026-11-26T13:00:05Z (fewer than 20 attempts: over 20 it would still be 25.0%)"},
		{"1 failure of 3 within 5 minutes is not yet a rate",
			append(slices.Clone(quiet), attempts(KindConnect, "b", t0.Add(time.Hour+time.Second), 3, 0)...),
			false, true, "too few attempts in any 5-minute window to judge (1 failed of 203); over the whole period 0.5%"},
		{"3 attempts over two hours, one failed: neither breach nor pass",
			spread(KindConnect, "a", since, 2*time.Hour, 3, 1),
			false, true, "too few attempts in any 5-minute window to judge (1 failed of 3); over the whole period 33.3%"},
		{"quiet hours alone cannot be judged either",
			quiet, false, true, "too few attempts in any 5-minute window to judge (0 failed of 200)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := BuildReport(&Result{Events: tt.events}, since, until)
			f := r.Findings[0]
			require.Equal(t, "device_connection_failure_rate", f.Threshold.Name)
			assert.Equal(t, tt.breached, f.Breached, f.Detail)
			assert.Equal(t, tt.undetermined, f.Undetermined, f.Detail)
			assert.Contains(t, f.Detail, tt.detail)
			var md strings.Builder
			require.NoError(t, r.WriteMarkdown(&md))
			if tt.breached {
				assert.Equal(t, runbook.P2, r.Severity)
				assert.Contains(t, md.String(), "**crossed**")
			} else {
				assert.Equal(t, runbook.Severity(""), r.Severity)
				assert.Contains(t, md.String(), "cannot judge")
			}
		})
	}
}

func TestReportMarkdown(t *testing.T) {
	events := attempts(KindConnect, "sim-a", t0, 10, 2, 3)
	events = append(events, Event{Time: t0.Add(time.Minute), Board: "sim-b|x", Kind: KindHealth, Severity: runbook.Error, Message: "bad: ping timeout\nafter reset"})
	r := BuildReport(&Result{Events: events, Torn: 1}, t0, t0.Add(time.Hour))
	r.Source = "/state/journal"
	var md strings.Builder
	require.NoError(t, r.WriteMarkdown(&md))
	out := md.String()
	for _, want := range []string{
		"# Incident report: 2026-11-26T12:00:00Z to 2026-11-26T13:00:00Z",
		"**Severity: P2** (medium",
		"| device_connection_failure_rate | > 5% over 5 minutes | P2 | 10 attempts | 2 of 10 failed (20.0%) in the 5m0s to 2026-11-26T12:00:09Z (fewer than 20 attempts: over 20 it would still be 10.0%) | **crossed** |",
		"| model_loading_failure_rate | > 10% over 10 minutes | P1 | 0 attempts | - | no data |",
		"- **Device Connection** (P2, escalate after 15m0s): Check physical connection",
		"| sim-a | 10 | 2 |",
		`sim-b\|x`,
		"bad: ping timeout after reset",
		"1 torn last line skipped",
	} {
		assert.Contains(t, out, want)
	}
	// The timeline has one row per event.
	assert.Equal(t, 11, strings.Count(out, "| connect |")+strings.Count(out, "| health |"))
}

// TestSeveritySaysWhereItComesFrom: a severity that came from an alert
// rule, with no runbook threshold crossed, says so, and does not sit
// beside "no threshold was crossed" as if it followed from one.
func TestSeveritySaysWhereItComesFrom(t *testing.T) {
	alert := Event{Time: t0.Add(time.Minute), Board: "sim:esp32s3", Kind: KindAlert, Severity: runbook.P1,
		Message: "P1 memory_usage: heap_used is 95.0%", Details: map[string]any{"rule": "memory_usage", "state": "firing", "simulated": true}}
	tests := []struct {
		name   string
		events []Event
		want   []string
		not    []string
	}{
		{"an alert alone", []Event{alert},
			[]string{"**Severity: P1** (high: major functionality impaired), from alert memory_usage fired on sim:esp32s3 at 2026-11-26T12:01:00Z. No runbook threshold was crossed in the journal: the severity is the alert rules' own.",
				"No runbook threshold was crossed, so the runbook names no first action; the alerts fired above carry the severity",
				"| sim:esp32s3 (simulated: figures modelled, not measured) | 1 | 1 |"},
			[]string{"None required"}},
		{"a threshold crossed", attempts(KindConnect, "a", t0, 40, 1, 2, 3),
			[]string{"**Severity: P2** (medium: limited functionality impaired, workarounds available), from threshold device_connection_failure_rate > 5% over 5 minutes crossed. Runbook:"},
			[]string{"the severity is the alert rules' own", "None required"}},
		{"nothing", attempts(KindConnect, "a", t0, 40),
			[]string{"**Severity: none.** No runbook threshold was crossed and no alert fired.", "None required: no threshold was crossed and no alert fired."},
			[]string{"from "}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var md strings.Builder
			require.NoError(t, BuildReport(&Result{Events: tt.events}, t0, t0.Add(time.Hour)).WriteMarkdown(&md))
			for _, w := range tt.want {
				assert.Contains(t, md.String(), w)
			}
			for _, n := range tt.not {
				assert.NotContains(t, md.String(), n)
			}
		})
	}
}

// TestWeightedAttempts: a monitor journals a run of polls as one event
// with attempts and failed; the rate counts the polls, not the event.
func TestWeightedAttempts(t *testing.T) {
	events := []Event{
		{Time: t0, Board: "a", Kind: KindConnect, Details: map[string]any{"ok": true, "attempts": 60.0, "failed": 0.0}},
		{Time: t0.Add(time.Minute), Board: "a", Kind: KindConnect, Severity: runbook.Error, Details: map[string]any{"ok": false, "attempts": 12.0, "failed": 12.0}},
		{Time: t0.Add(2 * time.Minute), Board: "a", Kind: KindConnect, Details: map[string]any{"ok": true, "attempts": 60.0, "failed": 0.0}},
	}
	f := BuildReport(&Result{Events: events}, t0, t0.Add(time.Hour)).Findings[0]
	assert.Equal(t, 132, f.Samples)
	assert.True(t, f.Breached, f.Detail)
	assert.Equal(t, "12 of 72 failed (16.7%) in the 5m0s to 2026-11-26T12:01:00Z", f.Detail)
}

func TestFiguresFromSimulatedBoardsAreLabelled(t *testing.T) {
	events := []Event{
		{Time: t0.Add(time.Minute), Board: "sim:esp32s3", Kind: KindMemory, Details: map[string]any{"used": 95.0 * 1024, "capacity": 100.0 * 1024, "region": "heap", "simulated": true}},
		{Time: t0.Add(time.Minute), Board: "emu:mps2-an386", Kind: KindInference, Details: map[string]any{"p95_ms": 125.0, "baseline_ms": 50.0, "emulated": true}},
	}
	r := BuildReport(&Result{Events: events}, t0, t0.Add(time.Hour))
	var details []string
	for _, f := range r.Findings {
		details = append(details, f.Detail)
	}
	assert.Contains(t, details, "p95 125.0 ms against a baseline of 50.0 ms (2.50x) on emu:mps2-an386 (emulated)")
	assert.Contains(t, details, "heap 95.0 KiB used of 100.0 KiB (95.0%) on sim:esp32s3 (simulated: modelled, not measured)")
}
