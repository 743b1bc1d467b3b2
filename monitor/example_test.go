package monitor_test

import (
	"fmt"
	"time"

	"github.com/tinyprof/tinyprof/monitor"
)

// Rules are read from YAML shaped like the runbook's alerts block; Observe
// evaluates them against samples (Run polls a board for them instead).
func ExampleMonitor_Observe() {
	set, err := monitor.ParseRules("alerts.yaml", []byte(`alerts:
  memory_usage:
    threshold: "> 90% of device capacity"
    severity: P1
`))
	if err != nil {
		fmt.Println(err)
		return
	}
	m := monitor.New(nil, monitor.Options{Rules: set.Rules})
	start := time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)
	for i, used := range []int64{300, 470, 480, 400} {
		u := m.Observe(monitor.Sample{Time: start.Add(time.Duration(i) * time.Second), OK: true, HeapUsed: used << 10, HeapCapacity: 512 << 10})
		for _, a := range u.Alerts {
			fmt.Println(a.State, a.Message)
		}
	}
	// Output:
	// firing P1 memory_usage: heap_used is 91.8% (threshold > 90% of device capacity)
	// cleared memory_usage cleared: heap_used is 78.1% (threshold > 90% of device capacity)
}
