package monitor_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/tinyprof/tinyprof/device"
	"github.com/tinyprof/tinyprof/device/sim"
	"github.com/tinyprof/tinyprof/firmware"
	"github.com/tinyprof/tinyprof/monitor"
	"github.com/tinyprof/tinyprof/runbook"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestParseRules(t *testing.T) {
	rules := `alerts:
  device_connection_failure_rate:
    threshold: "> 5% over 5 minutes"
    severity: P2

  model_loading_failure_rate:
    threshold: "> 10% over 10 minutes"
    severity: P1

  inference_latency_p95:
    threshold: "> 2x baseline"
    severity: P2

  memory_usage:
    threshold: "> 90% of device capacity"
    severity: P1
  cpu_hot:
    metric: cpu_load
    threshold: "> 80%"
    window: over 30 seconds
    severity: p3
  heap_growth:
    metric: heap_used
    threshold: ">= 1.5x baseline"
    severity: P2
  low_heap:
    metric: heap_free
    threshold: "< 64 KiB"
    severity: P1
`
	set, err := monitor.ParseRules("alerts.yaml", []byte(rules))
	require.NoError(t, err)
	require.Len(t, set.Rules, 5)
	assert.Equal(t, []string{"model_loading_failure_rate", "inference_latency_p95"}, []string{set.Skipped[0].Name, set.Skipped[1].Name})

	byName := map[string]monitor.Rule{}
	for _, r := range set.Rules {
		byName[r.Name] = r
	}
	tests := []struct {
		name   string
		metric monitor.Metric
		op     string
		value  float64
		unit   monitor.Unit
		window time.Duration
		sev    runbook.Severity
	}{
		{"device_connection_failure_rate", monitor.ConnectionFailureRate, ">", 5, monitor.Absolute, 5 * time.Minute, runbook.P2},
		{"memory_usage", monitor.HeapUsed, ">", 90, monitor.OfCapacity, 0, runbook.P1},
		{"cpu_hot", monitor.CPULoad, ">", 80, monitor.Absolute, 30 * time.Second, runbook.P3},
		{"heap_growth", monitor.HeapUsed, ">=", 1.5, monitor.XBaseline, 0, runbook.P2},
		{"low_heap", monitor.HeapFree, "<", 64 * 1024, monitor.Absolute, 0, runbook.P1},
	}
	for _, tt := range tests {
		r := byName[tt.name]
		assert.Equal(t, tt.metric, r.Metric, tt.name)
		assert.Equal(t, tt.op, r.Op, tt.name)
		assert.Equal(t, tt.value, r.Value, tt.name)
		assert.Equal(t, tt.unit, r.Unit, tt.name)
		assert.Equal(t, tt.window, r.Window, tt.name)
		assert.Equal(t, tt.sev, r.Severity, tt.name)
	}
}

func TestParseRulesErrors(t *testing.T) {
	tests := []struct {
		name, yaml string
		want       []string
	}{
		{"syntax", "alerts:\n  a: [\n", []string{"alerts.yaml:2: bad YAML"}},
		{"no alerts block", "rules: {}\n", []string{`alerts.yaml:1: unknown key "rules"`, "no `alerts:` block"}},
		{"bad threshold", "alerts:\n  memory_usage:\n    threshold: \"over 9000\"\n    severity: P1\n", []string{`alerts.yaml:3: rule memory_usage: threshold "over 9000"`}},
		{"bad severity", "alerts:\n  memory_usage:\n    threshold: \"> 90% of device capacity\"\n    severity: P7\n", []string{"alerts.yaml:4: rule memory_usage: severity \"P7\""}},
		{"unknown metric", "alerts:\n  x:\n    metric: temperature\n    threshold: \"> 80\"\n    severity: P3\n", []string{`alerts.yaml:3: rule x: unknown metric "temperature"`}},
		{"missing metric", "alerts:\n  x:\n    threshold: \"> 80\"\n    severity: P3\n", []string{"alerts.yaml:2: rule x: no metric"}},
		{"capacity of cpu", "alerts:\n  c:\n    metric: cpu_load\n    threshold: \"> 90% of device capacity\"\n    severity: P3\n", []string{"alerts.yaml:4: rule c: cpu_load has no device capacity"}},
		{"memory percent without capacity", "alerts:\n  m:\n    metric: heap_used\n    threshold: \"> 90%\"\n    severity: P3\n", []string{"alerts.yaml:4:", "must say of what"}},
		{"unit misfit", "alerts:\n  p:\n    metric: power\n    threshold: \"> 90 KiB\"\n    severity: P3\n", []string{`unit "kib" does not fit power`}},
		{"bad window", "alerts:\n  c:\n    metric: cpu_load\n    threshold: \"> 80% over a while\"\n    severity: P3\n", []string{"alerts.yaml:4:", "cannot read duration"}},
		{"unknown key and two errors", "alerts:\n  c:\n    metric: cpu_load\n    treshold: \"> 80%\"\n    severity: P3\n  d:\n    metric: nope\n    threshold: \"> 1\"\n    severity: P3\n", []string{`alerts.yaml:4: rule c: unknown key "treshold"`, `alerts.yaml:7: rule d: unknown metric "nope"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := monitor.ParseRules("alerts.yaml", []byte(tt.yaml))
			require.Error(t, err)
			for _, w := range tt.want {
				assert.Contains(t, err.Error(), w)
			}
			var re *monitor.RuleError
			assert.True(t, errors.As(err, &re), "errors are *RuleError")
		})
	}
}

// fake is a Source whose metrics a test scripts.
type fake struct {
	info *firmware.Info
	next []*firmware.Metrics // nil entries fail
}

func (f *fake) Info() *firmware.Info { return f.info }

func (f *fake) Metrics(context.Context) (*firmware.Metrics, error) {
	m := f.next[0]
	f.next = f.next[1:]
	if m == nil {
		return nil, errors.New("timeout")
	}
	return m, nil
}

func heap(free uint32) *firmware.Metrics { return &firmware.Metrics{FreeHeap: free, CPULoad: 100} }

func rules(t *testing.T, yaml string) []monitor.Rule {
	t.Helper()
	set, err := monitor.ParseRules("r.yaml", []byte(yaml))
	require.NoError(t, err)
	return set.Rules
}

// feed observes samples a second apart and returns the alert states seen.
func feed(m *monitor.Monitor, samples []monitor.Sample) []string {
	var got []string
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i, s := range samples {
		s.Time = t0.Add(time.Duration(i) * time.Second)
		for _, a := range m.Observe(s).Alerts {
			got = append(got, a.Rule+" "+string(a.State)+" at "+s.Time.Format("05"))
		}
	}
	return got
}

func used(pct float64) monitor.Sample {
	return monitor.Sample{OK: true, HeapCapacity: 1000, HeapUsed: int64(pct * 10), CPULoad: pct}
}

func TestAlertsFireAndClear(t *testing.T) {
	down := monitor.Sample{OK: false}
	tests := []struct {
		name    string
		rules   string
		samples []monitor.Sample
		want    []string
	}{
		{"memory over capacity fires and clears",
			"alerts:\n  memory_usage:\n    threshold: \"> 90% of device capacity\"\n    severity: P1\n",
			[]monitor.Sample{used(50), used(95), used(96), used(80), used(91)},
			[]string{"memory_usage firing at 01", "memory_usage cleared at 03", "memory_usage firing at 04"}},
		{"a window needs the condition to hold",
			"alerts:\n  cpu:\n    metric: cpu_load\n    threshold: \"> 80% over 2 seconds\"\n    severity: P3\n",
			[]monitor.Sample{used(90), used(90), used(50), used(90), used(90), used(90), used(10)},
			[]string{"cpu firing at 05", "cpu cleared at 06"}},
		{"a window does not hold across polls without a reading",
			"alerts:\n  cpu:\n    metric: cpu_load\n    threshold: \"> 80% over 3 seconds\"\n    severity: P3\n",
			[]monitor.Sample{used(90), down, down, down, used(90), used(90), used(90), used(90)},
			[]string{"cpu firing at 07"}},
		{"a fired window alert keeps firing across a failed poll",
			"alerts:\n  cpu:\n    metric: cpu_load\n    threshold: \"> 80% over 1 second\"\n    severity: P3\n",
			[]monitor.Sample{used(90), used(90), down, used(90), used(10)},
			[]string{"cpu firing at 01", "cpu cleared at 04"}},
		{"a failed poll leaves a level alert as it was",
			"alerts:\n  memory_usage:\n    threshold: \"> 90% of device capacity\"\n    severity: P1\n",
			[]monitor.Sample{used(95), down, used(95), used(10)},
			[]string{"memory_usage firing at 00", "memory_usage cleared at 03"}},
		{"baseline learned from the first samples",
			"alerts:\n  growth:\n    metric: heap_used\n    threshold: \"> 2x baseline\"\n    severity: P2\n",
			[]monitor.Sample{used(10), used(10), used(12), used(8), used(10), used(19), used(25), used(10)},
			[]string{"growth firing at 06", "growth cleared at 07"}},
		{"connection failure rate over a window",
			"alerts:\n  device_connection_failure_rate:\n    threshold: \"> 20% over 5 seconds\"\n    severity: P2\n",
			[]monitor.Sample{used(1), used(1), used(1), used(1), down, down, used(1), used(1), used(1), used(1), used(1), used(1)},
			[]string{"device_connection_failure_rate firing at 05", "device_connection_failure_rate cleared at 09"}},
		{"a dead board fires the runbook's 5% over 5 seconds with few polls per window",
			"alerts:\n  device_connection_failure_rate:\n    threshold: \"> 5% over 5 seconds\"\n    severity: P2\n",
			[]monitor.Sample{used(1), down, down, down, down, down, down, down, down, down, down, down, down, down, down, down, down, down, down, down, down, down, down, down, used(1), used(1), used(1), used(1), used(1), used(1)},
			[]string{"device_connection_failure_rate firing at 04", "device_connection_failure_rate cleared at 28"}},
		{"the first failed poll is not a rate before the window has passed",
			"alerts:\n  device_connection_failure_rate:\n    threshold: \"> 30% over 10 seconds\"\n    severity: P2\n",
			[]monitor.Sample{down, used(1), used(1), used(1), used(1), used(1), used(1), used(1), used(1), used(1), used(1), used(1)},
			nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := monitor.New(&fake{}, monitor.Options{Rules: rules(t, tt.rules)})
			assert.Equal(t, tt.want, feed(m, tt.samples))
		})
	}
}

func TestSampleFromSource(t *testing.T) {
	src := &fake{info: &firmware.Info{SRAM: 512 * 1024, PSRAM: 8 << 20, Capabilities: firmware.CapSimulated},
		next: []*firmware.Metrics{{FreeHeap: 400 * 1024, PSRAMFree: 7 << 20, CPULoad: 125, HasPower: true, PowerUW: 250500}, nil}}
	m := monitor.New(src, monitor.Options{Board: "b1"})
	u := m.Sample(t.Context())
	s := u.Sample
	assert.True(t, s.OK)
	assert.True(t, s.Simulated)
	assert.Equal(t, int64(112*1024), s.HeapUsed)
	assert.Equal(t, 112.0, s.MemoryUsageKB())
	assert.Equal(t, int64(1<<20), s.PSRAMUsed)
	assert.Equal(t, 12.5, s.CPULoad)
	assert.Equal(t, 250.5, s.PowerMW)
	u = m.Sample(t.Context())
	assert.False(t, u.Sample.OK)
	assert.Equal(t, "timeout", u.Sample.Error)
}

// TestRunOnSimulatedBoard polls a simulated board through the real serial
// client until the context ends.
func TestRunOnSimulatedBoard(t *testing.T) {
	b := sim.Start(t, sim.Options{Platform: "esp32s3"})
	dev, err := device.Open(t.Context(), b.Path, device.Options{})
	require.NoError(t, err)
	defer dev.Close()
	set, err := monitor.ParseRules("r.yaml", []byte("alerts:\n  memory_usage:\n    threshold: \"> 1% of device capacity\"\n    severity: P1\n"))
	require.NoError(t, err)
	m := monitor.New(dev, monitor.Options{Interval: 10 * time.Millisecond, Rules: set.Rules})
	ctx, cancel := context.WithCancel(t.Context())
	var updates []monitor.Update
	err = m.Run(ctx, func(u monitor.Update) error {
		updates = append(updates, u)
		if len(updates) == 3 {
			cancel()
		}
		return nil
	})
	require.NoError(t, err)
	require.Len(t, updates, 3)
	for _, u := range updates {
		assert.True(t, u.Sample.OK, u.Sample.Error)
		assert.True(t, u.Sample.Simulated)
		assert.Positive(t, u.Sample.HeapUsed)
	}
	require.Len(t, updates[0].Alerts, 1)
	assert.Equal(t, monitor.Firing, updates[0].Alerts[0].State)
	assert.True(t, strings.HasPrefix(updates[0].Alerts[0].Message, "P1 memory_usage: heap_used is "))
	assert.Equal(t, []string{"memory_usage"}, m.Firing())

	stop := errors.New("stop")
	assert.ErrorIs(t, m.Run(t.Context(), func(monitor.Update) error { return stop }), stop)
}

func TestPollNote(t *testing.T) {
	tests := []struct {
		name, threshold string
		interval        time.Duration
		want            string
	}{
		{"runbook's window at 1s", "> 5% over 5 seconds", time.Second,
			"rule r: its 5s window holds about 5 polls at a 1s interval, so one failed poll (20%) crosses > 5% over 5 seconds: the rule fires on any failure; for a rate, widen the window to at least 20s or poll faster"},
		{"window shorter than interval", "> 5% over 1 second", 2 * time.Second,
			"rule r: its 1s window is shorter than the 2s poll interval, so it holds at most one poll and any failed poll crosses > 5% over 1 second: widen the window or poll faster"},
		{"enough polls", "> 5% over 5 minutes", time.Second, ""},
		{"one failure exactly at the threshold", "> 20% over 5 seconds", time.Second, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			set := rules(t, "alerts:\n  r:\n    metric: connection_failure_rate\n    threshold: \""+tt.threshold+"\"\n    severity: P2\n")
			assert.Equal(t, tt.want, set[0].PollNote(tt.interval))
		})
	}
	cpu := rules(t, "alerts:\n  cpu:\n    metric: cpu_load\n    threshold: \"> 80% over 1 second\"\n    severity: P3\n")
	assert.Empty(t, cpu[0].PollNote(time.Hour), "a level rule has no poll count")
}

// TestLoadRulesIsBounded: a device or FIFO named as the alert file is
// refused at the limit, not read until memory runs out.
func TestLoadRulesIsBounded(t *testing.T) {
	_, err := monitor.LoadRules("/dev/zero")
	require.Error(t, err)
	assert.Contains(t, err.Error(), "alert rules")
}
