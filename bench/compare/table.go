package compare

import (
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"

	"golang.org/x/perf/benchmath"
	"golang.org/x/perf/benchunit"

	"github.com/tinyprof/tinyprof/bench"
)

// WriteTable writes the comparison as benchstat does: per unit, each
// benchmark's old and new median ± the interval's half-width in percent,
// then the change and its p-value, "~" when it is not significant, and
// "too few samples" when no verdict is possible.
func (c *Comparison) WriteTable(w io.Writer) error {
	var b strings.Builder
	c.writeHeader(&b)
	for _, unit := range c.units() {
		var ms []Metric
		var vals []float64
		for _, m := range c.Metrics {
			if m.Unit == unit {
				ms = append(ms, m)
				vals = append(vals, m.Old.Center, m.New.Center)
			}
		}
		scaler := benchunit.CommonScale(vals, benchunit.ClassOf(unit))
		fmt.Fprintf(&b, "\n%s (%s)\n", unit, bench.UnitLabel(unit))
		tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
		fmt.Fprintf(tw, "benchmark\t%s\t%s\tvs base\n", c.Old, c.New)
		for _, m := range ms {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", m.Benchmark, cell(scaler, m.Old), cell(scaler, m.New), delta(m))
		}
		tw.Flush()
	}
	if len(c.OnlyOld) > 0 {
		fmt.Fprintf(&b, "\nonly in %s: %s\n", c.Old, strings.Join(c.OnlyOld, "; "))
	}
	if len(c.OnlyNew) > 0 {
		fmt.Fprintf(&b, "\nonly in %s: %s\n", c.New, strings.Join(c.OnlyNew, "; "))
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func (c *Comparison) writeHeader(b *strings.Builder) {
	line := func(name string, cfg map[string]string) {
		var parts []string
		for _, k := range []string{"board", "platform", "firmware", "model", "model-sha256", "simulated", "emulated", "power-source"} {
			if v, ok := cfg[k]; ok {
				if k == "model-sha256" && len(v) > 12 {
					v = v[:12] + "…"
				}
				parts = append(parts, k+" "+v)
			}
		}
		if len(parts) == 0 {
			parts = append(parts, "no board configuration lines")
		}
		fmt.Fprintf(b, "%s: %s\n", name, strings.Join(parts, ", "))
	}
	line(c.Old, c.OldConfig)
	line(c.New, c.NewConfig)
	unlike, across := c.differences()
	for _, k := range c.ConfigDiffers {
		if _, ok := unlike[k]; ok {
			continue
		}
		if _, ok := across[k]; ok {
			continue
		}
		for bench := range c.benchmarks() {
			if o, n := c.oldConfigs[bench][k], c.newConfigs[bench][k]; o != n {
				fmt.Fprintf(b, "differs: %s (%q in %s, %q in %s, for %s)\n", k, o, c.Old, n, c.New, bench)
				break
			}
		}
	}
	for _, k := range likeKeys {
		if d, ok := across[k]; ok {
			fmt.Fprintf(b, "compared across %s, as asked: %s\n", k, d)
		}
	}
	for _, k := range likeKeys {
		d, ok := unlike[k]
		if !ok {
			continue
		}
		fmt.Fprintf(b, "not like with like: %s differs for %s: %s; their changes are not the code's alone: compare runs with one %s, or, if that is the change under test, say so with --ignore %s\n",
			k, list(d.benchmarks), d, keyNoun[k], k)
	}
	if c.OldConfig["simulated"] == "true" || c.NewConfig["simulated"] == "true" {
		fmt.Fprintln(b, "simulated: figures are modelled, not measured")
	}
	if e := c.OldConfig["emulated"]; e != "" && e != "false" {
		fmt.Fprintln(b, "emulated: "+e)
	}
}

// keyDifference is one configuration key's differences over the
// benchmarks of a comparison.
type keyDifference struct {
	benchmarks []string
	values     []string // "OLD → NEW", each once
}

func (d keyDifference) String() string { return strings.Join(d.values, ", ") }

// differences gathers the metrics' Unlike and Across by key.
func (c *Comparison) differences() (unlike, across map[string]*keyDifference) {
	unlike, across = map[string]*keyDifference{}, map[string]*keyDifference{}
	add := func(into map[string]*keyDifference, bench string, ds []Difference) {
		for _, d := range ds {
			kd := into[d.Key]
			if kd == nil {
				kd = &keyDifference{}
				into[d.Key] = kd
			}
			if !slices.Contains(kd.benchmarks, bench) {
				kd.benchmarks = append(kd.benchmarks, bench)
			}
			v := fmt.Sprintf("%s in %s, %s in %s", short(d.Key, d.Old), c.Old, short(d.Key, d.New), c.New)
			if !slices.Contains(kd.values, v) {
				kd.values = append(kd.values, v)
			}
		}
	}
	for _, m := range c.Metrics {
		add(unlike, m.Benchmark, m.Unlike)
		add(across, m.Benchmark, m.Across)
	}
	return unlike, across
}

func cell(s benchunit.Scaler, iv bench.Interval) string {
	sum := benchmath.Summary{Center: iv.Center, Lo: iv.Lo, Hi: iv.Hi, Confidence: iv.Confidence}
	return fmt.Sprintf("%s ± %s", s.Format(iv.Center), sum.PctRangeString())
}

func delta(m Metric) string {
	s := verdictCell(m)
	if keys := unlikeKeys(m.Unlike); len(keys) > 0 {
		s += fmt.Sprintf(" unlike: %s %s", strings.Join(keys, ", "), plural(len(keys), "differs", "differ"))
	}
	return s
}

func verdictCell(m Metric) string {
	if m.TooFew {
		return fmt.Sprintf("too few samples for a verdict (n=%d+%d; need %d a side)", m.Old.N, m.New.N, m.Need)
	}
	d := "~"
	if m.Significant {
		switch {
		case m.Old.Center == 0:
			d = "?"
		default:
			d = fmt.Sprintf("%+.2f%%", (m.New.Center/m.Old.Center-1)*100)
		}
	}
	notes := ""
	if !m.Significant && len(m.Notes) > 0 {
		notes = "; " + strings.Join(m.Notes, "; ")
	}
	return fmt.Sprintf("%s (p=%.3f n=%d+%d%s)", d, m.P, m.Old.N, m.New.N, notes)
}

// fmtValue formats v in unit with SI or IEC prefixes.
func fmtValue(v float64, unit string) string {
	return benchunit.Scale(v, benchunit.ClassOf(unit)) + " " + unit
}
