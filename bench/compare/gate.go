package compare

import (
	"fmt"
	"math"
	"strings"

	"github.com/tinyprof/tinyprof/bench"
	"github.com/tinyprof/tinyprof/runbook"
)

// Gate is one rule of a regression gate, such as the runbook's
// "p95 inter-token latency > 2x": it trips when a metric changes
// significantly beyond a threshold.
type Gate struct {
	Text string // the rule as written
	Unit string // the tidied unit it watches
	// Above is true for ">" (trip when the change exceeds the threshold),
	// false for "<" (trip when it falls below).
	Above bool
	// Ratio is the threshold as new/old: "2x" is 2, "-10%" is 0.9.
	Ratio float64
}

// ParseGates parses a comma-separated list of rules, each
// "METRIC > THRESHOLD" or "METRIC < THRESHOLD". METRIC is a unit
// ("itl-p95-sec", "tok/s") or its name ("p95 inter-token latency",
// "tokens/s", "time to first token", "peak heap"); THRESHOLD is a ratio of
// new to old ("2x", "1.5x") or a change in percent ("+10%", "-10%").
// Example: "p95 inter-token latency > 2x, tokens/s < -10%".
func ParseGates(s string) ([]Gate, error) {
	var gates []Gate
	for _, rule := range strings.Split(s, ",") {
		rule = strings.TrimSpace(rule)
		if rule == "" {
			continue
		}
		i := strings.IndexAny(rule, "<>")
		if i < 0 {
			return nil, fmt.Errorf("gate %q: want METRIC > THRESHOLD or METRIC < THRESHOLD, e.g. %q", rule, "p95 inter-token latency > 2x")
		}
		g := Gate{Text: rule, Above: rule[i] == '>'}
		name, th := strings.TrimSpace(rule[:i]), strings.TrimSpace(rule[i+1:])
		u, ok := bench.LookupUnit(name)
		if !ok {
			var names []string
			for _, u := range bench.Units() {
				names = append(names, fmt.Sprintf("%q (%s)", u.Label, u.Name))
			}
			return nil, fmt.Errorf("gate %q: unknown metric %q: use one of %s", rule, name, strings.Join(names, ", "))
		}
		g.Unit = u.Name
		r, err := runbook.ParseChange(th)
		if err != nil {
			return nil, fmt.Errorf("gate %q: threshold %w", rule, err)
		}
		g.Ratio = r
		gates = append(gates, g)
	}
	if len(gates) == 0 {
		return nil, fmt.Errorf("no gate rules in %q", s)
	}
	return gates, nil
}

// Verdict is a gate rule applied to one metric of one benchmark.
type Verdict struct {
	Gate   Gate
	Metric Metric
	// Tripped: a significant change beyond the threshold.
	Tripped bool
	// Undecided: too few samples to tell; a gate treats it as a failure,
	// since it cannot vouch for the change.
	Undecided bool
	// Refused: the benchmark's configuration differs between the files
	// (Metric.Unlike), so the change is not the code's alone and the gate
	// will not judge it either way (see Refused).
	Refused bool
}

func (v Verdict) String() string {
	m := v.Metric
	change := fmt.Sprintf("%s → %s (%.3gx)", fmtValue(m.Old.Center, m.Unit), fmtValue(m.New.Center, m.Unit), m.Ratio)
	switch {
	case v.Refused:
		var ds, nouns []string
		for _, d := range m.Unlike {
			ds = append(ds, d.String())
			nouns = append(nouns, keyNoun[d.Key])
		}
		return fmt.Sprintf("%s: %s %s: refused, not like with like (%s): compare runs with one %s, or, if that is the change under test, say so with --ignore %s",
			v.Gate.Text, m.Benchmark, change, strings.Join(ds, "; "), strings.Join(nouns, " and "), strings.Join(unlikeKeys(m.Unlike), ","))
	case v.Undecided:
		return fmt.Sprintf("%s: %s %s: too few samples for a verdict (n=%d+%d; need %d a side): run more iterations (-count, --runs)",
			v.Gate.Text, m.Benchmark, change, m.Old.N, m.New.N, m.Need)
	case v.Tripped:
		return fmt.Sprintf("%s: %s %s, p=%.3f: regression", v.Gate.Text, m.Benchmark, change, m.P)
	}
	return fmt.Sprintf("%s: %s %s: passes", v.Gate.Text, m.Benchmark, change)
}

// Check applies gates to every benchmark that has the gate's metric. It
// fails when a gate names a metric neither file has. A verdict is tripped
// only by a significant change (p ≤ alpha) past the threshold, and is
// refused, neither tripped nor passed, for a benchmark whose configuration
// differs between the files (Metric.Unlike).
func (c *Comparison) Check(gates []Gate) ([]Verdict, error) {
	var out []Verdict
	for _, g := range gates {
		found := false
		for _, m := range c.Metrics {
			if m.Unit != g.Unit {
				continue
			}
			found = true
			v := Verdict{Gate: g, Metric: m}
			beyond := !math.IsNaN(m.Ratio) && (g.Above && m.Ratio > g.Ratio || !g.Above && m.Ratio < g.Ratio)
			switch {
			case len(m.Unlike) > 0:
				v.Refused = true
			case m.TooFew:
				v.Undecided = true
			case m.Significant && beyond:
				v.Tripped = true
			}
			out = append(out, v)
		}
		if !found {
			return nil, fmt.Errorf("gate %q watches %s, which %s and %s do not both report", g.Text, g.Unit, c.Old, c.New)
		}
	}
	return out, nil
}

// Refused reports whether any verdict was refused for comparing unlike
// configurations: the gate cannot pass, but found no regression either.
func Refused(vs []Verdict) bool {
	for _, v := range vs {
		if v.Refused {
			return true
		}
	}
	return false
}

// Failed reports whether any verdict tripped or is undecided.
func Failed(vs []Verdict) bool {
	for _, v := range vs {
		if v.Tripped || v.Undecided {
			return true
		}
	}
	return false
}
