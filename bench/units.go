package bench

import "strings"

// unitInfo describes one metric of the benchmark lines: its unit as
// benchfmt tidies it (ns becomes sec), the Unit metadata benchstat reads,
// and the names --fail-on accepts for it.
type unitInfo struct {
	name    string // tidied unit
	meta    string
	label   string
	aliases []string
}

// unitTable lists the metrics Generate and WriteBench report. Units whose
// numerator is B scale by 1024 in benchstat (benchunit.ClassOf), the rest
// by 1000; ns is tidied to sec, so "ttft-ns" from go test and from the CLI
// compare as "ttft-sec".
var unitTable = []unitInfo{
	{"sec/op", "better=lower", "time per generation", []string{"time/op", "ns/op", "generation time"}},
	{"tok/s", "better=higher", "decode throughput", []string{"tokens/s", "decode", "decode tokens/s", "throughput"}},
	{"prefill-tok/s", "better=higher", "prefill throughput", []string{"prefill", "prefill tokens/s"}},
	{"ttft-sec", "better=lower", "time to first token", []string{"ttft", "ttft-ns"}},
	{"itl-p50-sec", "better=lower", "p50 inter-token latency", []string{"median inter-token latency", "p50 itl", "itl-p50-ns"}},
	{"itl-p95-sec", "better=lower", "p95 inter-token latency", []string{"p95 itl", "itl-p95-ns"}},
	{"itl-p99-sec", "better=lower", "p99 inter-token latency", []string{"p99 itl", "itl-p99-ns"}},
	{"peak-heap-B", "better=lower", "peak heap", nil},
	{"peak-psram-B", "better=lower", "peak psram", nil},
	{"free-heap-after-B", "better=higher", "free heap after", nil},
	{"min-free-heap-gen-B", "better=higher", "least free heap during generation", []string{"heap during generation"}},
	{"W", "better=lower", "average power", []string{"power"}},
	{"J/tok", "better=lower", "energy per token", []string{"energy"}},
}

// unitByName resolves a metric name from --fail-on: a unit (tidied or
// not), a label or an alias, case-insensitively.
func unitByName(s string) (unitInfo, bool) {
	s = strings.Join(strings.Fields(strings.ToLower(s)), " ")
	for _, u := range unitTable {
		if s == strings.ToLower(u.name) || s == u.label {
			return u, true
		}
		for _, a := range u.aliases {
			if s == a {
				return u, true
			}
		}
	}
	return unitInfo{}, false
}

// unitLabel returns a human name for a tidied unit.
func unitLabel(unit string) string {
	for _, u := range unitTable {
		if u.name == unit {
			return u.label
		}
	}
	return unit
}
