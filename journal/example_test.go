package journal_test

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/tinyprof/tinyprof/journal"
)

// An incident report measures the journal's events against the runbook's
// thresholds: here one connection in ten fails.
func ExampleBuildReport() {
	dir, _ := os.MkdirTemp("", "journal-example")
	defer os.RemoveAll(dir)
	j, _ := journal.Open(dir, journal.Options{})
	ctx := context.Background()
	start := time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)
	for i := range 30 {
		ok := i%10 != 9
		j.Append(ctx, journal.Event{Time: start.Add(time.Duration(i) * 5 * time.Second), Board: "bench-1",
			Kind: journal.KindConnect, Details: map[string]any{"ok": ok}})
	}
	res, _ := j.Read(ctx, journal.Query{})
	r := journal.BuildReport(res, start, start.Add(time.Hour))
	fmt.Println("severity:", r.Severity)
	for _, f := range r.Findings {
		if f.Breached {
			fmt.Printf("%s %s: %s; first action: %s\n", f.Threshold.Name, f.Threshold.Text, f.Detail, f.Threshold.FirstAction)
		}
	}
	// Output:
	// severity: P2
	// device_connection_failure_rate > 5% over 5 minutes: 2 of 20 failed (10.0%) in the 5m0s to 2026-11-26T10:01:35Z; first action: Check physical connection
}
