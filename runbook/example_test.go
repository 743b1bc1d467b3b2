package runbook_test

import (
	"fmt"
	"time"

	"github.com/tinyprof/tinyprof/runbook"
)

func ExampleParseTime() {
	now := time.Date(2026, 11, 26, 14, 30, 0, 0, time.UTC)
	for _, s := range []string{"2 hours ago", "90 minutes ago", "2026-11-26T09:00:00Z"} {
		t, _ := runbook.ParseTime(s, now)
		fmt.Println(t.Format(time.RFC3339))
	}
	// Output:
	// 2026-11-26T12:30:00Z
	// 2026-11-26T13:00:00Z
	// 2026-11-26T09:00:00Z
}
