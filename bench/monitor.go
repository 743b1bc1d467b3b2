package bench

import "github.com/tinyprof/tinyprof/monitor"

// Monitor returns a live monitor of dev — the runbook's RealtimeMonitor —
// polling its METRICS every opts.Interval and evaluating opts.Rules. It is
// monitor.New for a benchmark's board; see package monitor for Sample,
// Run and the alert rules. Call Sample or Run from one goroutine.
func Monitor(dev Device, opts monitor.Options) *monitor.Monitor { return monitor.New(dev, opts) }
