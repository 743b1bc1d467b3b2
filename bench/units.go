package bench

import (
	"slices"
	"strings"
)

// Unit describes one metric of the benchmark lines that Generate and the
// CLI's report write, as the comparison and its gates read them.
type Unit struct {
	// Name is the unit as benchfmt tidies it: ns becomes sec, so
	// "ttft-ns" from go test and from the CLI compare as "ttft-sec".
	Name string
	// Better is +1 when higher is better, -1 when lower is (the Unit
	// metadata line benchstat reads).
	Better int
	// Label is a human name, e.g. "p95 inter-token latency".
	Label string
	// Aliases are the other names a gate rule may give it.
	Aliases []string
}

// units lists the metrics Generate and the CLI's report write. Units
// whose numerator is B scale by 1024 in benchstat (benchunit.ClassOf),
// the rest by 1000.
var units = []Unit{
	{"sec/op", -1, "time per generation", []string{"time/op", "ns/op", "generation time"}},
	{"tok/s", +1, "decode throughput", []string{"tokens/s", "decode", "decode tokens/s", "throughput"}},
	{"prefill-tok/s", +1, "prefill throughput", []string{"prefill", "prefill tokens/s"}},
	{"instr/tok", -1, "instructions per token", []string{"instructions/token", "decode instructions per token"}},
	{"prefill-instr/tok", -1, "prefill instructions per token", []string{"prefill instructions"}},
	{"ttft-sec", -1, "time to first token", []string{"ttft", "ttft-ns"}},
	{"itl-p50-sec", -1, "p50 inter-token latency", []string{"median inter-token latency", "p50 itl", "itl-p50-ns"}},
	{"itl-p95-sec", -1, "p95 inter-token latency", []string{"p95 itl", "itl-p95-ns"}},
	{"itl-p99-sec", -1, "p99 inter-token latency", []string{"p99 itl", "itl-p99-ns"}},
	{"peak-heap-B", -1, "peak heap", nil},
	{"peak-psram-B", -1, "peak psram", nil},
	{"free-heap-after-B", +1, "free heap after", nil},
	{"min-free-heap-gen-B", +1, "least free heap during generation", []string{"heap during generation"}},
	{"W", -1, "average power", []string{"power"}},
	{"J/tok", -1, "energy per token", []string{"energy"}},
}

// Units returns the metrics Generate and the CLI's report write, in the
// order a comparison lists them. The caller may modify the result.
func Units() []Unit {
	out := slices.Clone(units)
	for i := range out {
		out[i].Aliases = slices.Clone(out[i].Aliases)
	}
	return out
}

// LookupUnit resolves a metric's name as a gate rule gives it: a unit
// (tidied or not), its label or an alias, case-insensitively.
func LookupUnit(name string) (Unit, bool) {
	s := strings.Join(strings.Fields(strings.ToLower(name)), " ")
	for _, u := range units {
		if s == strings.ToLower(u.Name) || s == u.Label || slices.Contains(u.Aliases, s) {
			return Unit{Name: u.Name, Better: u.Better, Label: u.Label, Aliases: slices.Clone(u.Aliases)}, true
		}
	}
	return Unit{}, false
}

// UnitLabel returns the human name of a tidied unit, or the unit itself
// when it is not one of Units.
func UnitLabel(unit string) string {
	for _, u := range units {
		if u.Name == unit {
			return u.Label
		}
	}
	return unit
}

// meta is the unit's metadata line value.
func (u Unit) meta() string {
	if u.Better > 0 {
		return "better=higher"
	}
	return "better=lower"
}
