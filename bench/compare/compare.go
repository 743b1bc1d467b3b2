// Package compare compares two files in the Go benchmark format — go test
// -bench output of bench.Generate, or tiny-profiler benchmark --format
// bench — as benchstat does (medians with distribution-free intervals,
// the Mann–Whitney U test of golang.org/x/perf/benchmath), writes the
// comparison as a table, and gates on regressions with rules such as the
// runbook's "p95 inter-token latency > 2x" (ParseGates, Comparison.Check),
// as the CLI's --fail-on does.
//
// Results are matched by name without the -GOMAXPROCS suffix, which says
// nothing of the board's time, so a go test sub-benchmark named with
// bench.Name and the CLI's result of the same case are one benchmark.
package compare

import (
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"slices"
	"strings"

	"golang.org/x/perf/benchfmt"
	"golang.org/x/perf/benchmath"

	"github.com/tinyprof/tinyprof/bench"
)

// Limits on what Compare reads from one file.
const (
	maxCompareBytes  = 256 << 20
	maxCompareValues = 1 << 22
)

// Options configures Compare. The zero value is benchstat's defaults.
type Options struct {
	// Alpha is the significance level of the Mann–Whitney U test. Default
	// 0.05.
	Alpha float64
	// Confidence is the level of the medians' intervals. Default 0.95.
	Confidence float64
}

// Comparison is what Compare found between two benchmark files.
type Comparison struct {
	Old, New           string            // the files' names
	OldConfig          map[string]string // configuration of the first result in each
	NewConfig          map[string]string
	ConfigDiffers      []string // configuration keys whose values differ
	Metrics            []Metric
	OnlyOld            []string // "benchmark unit" present in OLD only
	OnlyNew            []string
	Alpha              float64
	Confidence         float64
	oldUnits, newUnits benchfmt.UnitMetadataMap
}

// Metric is one metric of one benchmark in both files.
type Metric struct {
	Benchmark string // full name without "Benchmark" and GOMAXPROCS
	Unit      string // tidied: ns becomes sec
	// Old and New are the medians in each file, with their intervals at
	// the comparison's Confidence over N samples.
	Old, New bench.Interval
	// Ratio is New.Center / Old.Center (NaN when Old.Center is 0).
	Ratio float64
	// P is the Mann–Whitney U test's p-value, as benchstat computes it.
	P float64
	// Significant reports P ≤ Alpha with enough samples for a verdict.
	Significant bool
	// TooFew reports that the samples cannot give a verdict at Alpha
	// (benchstat needs at least 4 a side at 0.05): it is not "no change".
	TooFew bool
	// Need is the samples a side a verdict needs at Alpha.
	Need  int
	Notes []string
}

// Files is Compare on two files.
func Files(oldPath, newPath string, opts Options) (*Comparison, error) {
	open := func(p string) (*os.File, error) {
		f, err := os.Open(p)
		if err != nil {
			return nil, fmt.Errorf("compare: %w", err)
		}
		return f, nil
	}
	o, err := open(oldPath)
	if err != nil {
		return nil, err
	}
	defer o.Close()
	n, err := open(newPath)
	if err != nil {
		return nil, err
	}
	defer n.Close()
	return Compare(o, n, oldPath, newPath, opts)
}

// Compare reads two files in the Go benchmark format (go test -bench
// output, or tiny-profiler benchmark --format bench) and compares every
// metric of every benchmark present in both, as benchstat does: medians
// with distribution-free intervals and the Mann–Whitney U test
// (golang.org/x/perf/benchmath).
//
// It fails on a file that is empty or corrupt, that mixes results of one
// benchmark from different boards, firmware, models or simulated and real
// boards, on values that are not finite, when one file is from a
// simulated board and the other from a real one, and when the files have
// no benchmark and unit in common. It reads at most 256 MiB of each.
func Compare(old, new io.Reader, oldName, newName string, opts Options) (*Comparison, error) {
	if opts.Alpha == 0 {
		opts.Alpha = 0.05
	}
	if opts.Confidence == 0 {
		opts.Confidence = 0.95
	}
	if !(opts.Alpha > 0 && opts.Alpha < 1) || !(opts.Confidence > 0 && opts.Confidence < 1) {
		return nil, fmt.Errorf("compare: alpha %v and confidence %v must lie between 0 and 1", opts.Alpha, opts.Confidence)
	}
	of, err := readBenchFile(old, oldName)
	if err != nil {
		return nil, err
	}
	nf, err := readBenchFile(new, newName)
	if err != nil {
		return nil, err
	}
	c := &Comparison{Old: oldName, New: newName, OldConfig: of.config, NewConfig: nf.config,
		Alpha: opts.Alpha, Confidence: opts.Confidence}
	for _, k := range bench.ConfigKeys() {
		if of.config[k] != nf.config[k] {
			c.ConfigDiffers = append(c.ConfigDiffers, k)
		}
	}
	if ok, nk := kindOf(of.config), kindOf(nf.config); ok != nk && ok != "" && nk != "" {
		return nil, fmt.Errorf("compare: %s is from a %s board and %s from a %s one: modelled, emulated and measured figures are not comparable; compare runs of the same kind",
			oldName, ok, newName, nk)
	}

	thr := benchmath.Thresholds{CompareAlpha: opts.Alpha}
	for _, k := range of.order {
		ov := of.values[k]
		nv, ok := nf.values[k]
		if !ok {
			c.OnlyOld = append(c.OnlyOld, k.bench+" "+k.unit)
			continue
		}
		assume := of.units.GetAssumption(k.unit)
		os, ns := benchmath.NewSample(ov, &thr), benchmath.NewSample(nv, &thr)
		m := Metric{Benchmark: k.bench, Unit: k.unit,
			Old: summaryOf(assume.Summary(os, opts.Confidence), len(ov)), New: summaryOf(assume.Summary(ns, opts.Confidence), len(nv))}
		cmp := assume.Compare(os, ns)
		m.P = cmp.P
		m.Ratio = math.NaN()
		if m.Old.Center != 0 {
			m.Ratio = m.New.Center / m.Old.Center
		}
		m.TooFew = minUTestP(len(ov), len(nv)) > opts.Alpha
		m.Need = minSamplesFor(opts.Alpha)
		m.Significant = !m.TooFew && cmp.P <= opts.Alpha
		for _, w := range cmp.Warnings {
			m.Notes = append(m.Notes, w.Error())
		}
		c.Metrics = append(c.Metrics, m)
	}
	for _, k := range nf.order {
		if _, ok := of.values[k]; !ok {
			c.OnlyNew = append(c.OnlyNew, k.bench+" "+k.unit)
		}
	}
	if len(c.Metrics) == 0 {
		return nil, fmt.Errorf("compare: %s and %s have no benchmark and unit in common (%s has %s; %s has %s): compare outputs of the same benchmarks, with the same units",
			oldName, newName, oldName, of.describe(), newName, nf.describe())
	}
	return c, nil
}

// kindOf says what produced a file's figures, from its simulated and
// emulated configuration lines: "simulated", "emulated", "real", or ""
// when the file does not say. A file without an emulated line predates
// emulated boards, so its simulated line decides.
func kindOf(cfg map[string]string) string {
	switch e := cfg["emulated"]; {
	case cfg["simulated"] == "true":
		return "simulated"
	case e != "" && e != "false":
		return "emulated"
	case cfg["simulated"] == "false":
		return "real"
	}
	return ""
}

func summaryOf(s benchmath.Summary, n int) bench.Interval {
	return bench.Interval{Center: s.Center, Lo: s.Lo, Hi: s.Hi, Confidence: s.Confidence, N: n}
}

// minUTestP is the smallest two-sided p-value the Mann–Whitney U test can
// give for samples of n1 and n2 without ties: 2 / C(n1+n2, n1).
func minUTestP(n1, n2 int) float64 {
	if n1 == 0 || n2 == 0 {
		return 1
	}
	lg := func(n int) float64 { v, _ := math.Lgamma(float64(n + 1)); return v }
	return math.Min(1, 2*math.Exp(lg(n1)+lg(n2)-lg(n1+n2)))
}

// minSamplesFor returns the samples a side the U test needs at alpha.
func minSamplesFor(alpha float64) int {
	for n := 1; n < 100; n++ {
		if minUTestP(n, n) <= alpha {
			return n
		}
	}
	return 100
}

type benchKey struct{ bench, unit string }

// benchFile is one file's results, grouped.
type benchFile struct {
	name   string
	config map[string]string
	values map[benchKey][]float64
	order  []benchKey
	units  benchfmt.UnitMetadataMap
}

func (f *benchFile) describe() string {
	benches, seen := map[string]bool{}, map[string]bool{}
	var units []string
	for _, k := range f.order {
		benches[k.bench] = true
		if !seen[k.unit] {
			seen[k.unit] = true
			units = append(units, k.unit)
		}
	}
	return fmt.Sprintf("%d benchmarks in units %s", len(benches), strings.Join(units, ", "))
}

// identity is the configuration that must not vary within one benchmark.
var identity = []string{"board", "platform", "firmware", "model-sha256", "simulated", "emulated", "power-source"}

func readBenchFile(r io.Reader, name string) (*benchFile, error) {
	lr := &io.LimitedReader{R: r, N: maxCompareBytes + 1}
	br := benchfmt.NewReader(lr, name)
	f := &benchFile{name: name, values: map[benchKey][]float64{}}
	firstConfig := map[string]map[string]string{} // per benchmark
	total := 0
	var syntax []error
	for br.Scan() {
		switch rec := br.Result().(type) {
		case *benchfmt.SyntaxError:
			syntax = append(syntax, rec)
		case *benchfmt.Result:
			bname := resultName(rec.Name)
			cfg := map[string]string{}
			for _, c := range rec.Config {
				if c.File {
					cfg[c.Key] = string(c.Value)
				}
			}
			if f.config == nil {
				f.config = cfg
			}
			if prev, ok := firstConfig[bname]; !ok {
				firstConfig[bname] = cfg
			} else {
				for _, k := range identity {
					if prev[k] != cfg[k] {
						file, line := rec.Pos()
						return nil, fmt.Errorf("compare: %s:%d: benchmark %s has results with %s %q and %q in one file: results from different boards, firmware or models must not mix; split the file",
							file, line, bname, k, prev[k], cfg[k])
					}
				}
			}
			for _, v := range rec.Values {
				if math.IsNaN(v.Value) || math.IsInf(v.Value, 0) {
					file, line := rec.Pos()
					return nil, fmt.Errorf("compare: %s:%d: %s is %v %s: not a measurement; regenerate the file", file, line, bname, v.Value, v.Unit)
				}
				k := benchKey{bname, v.Unit}
				if _, ok := f.values[k]; !ok {
					f.order = append(f.order, k)
				}
				f.values[k] = append(f.values[k], v.Value)
				if total++; total > maxCompareValues {
					return nil, fmt.Errorf("compare: %s holds more than %d values: compare smaller files", name, maxCompareValues)
				}
			}
		}
	}
	if err := br.Err(); err != nil {
		return nil, fmt.Errorf("compare: read %s: %w", name, err)
	}
	if lr.N <= 0 {
		return nil, fmt.Errorf("compare: %s is larger than %d MiB: compare smaller files", name, maxCompareBytes>>20)
	}
	if len(syntax) > 0 {
		return nil, fmt.Errorf("compare: %s is corrupt: %w; regenerate it with go test -bench or tiny-profiler benchmark --format bench", name, errors.Join(syntax...))
	}
	if len(f.order) == 0 {
		return nil, fmt.Errorf("compare: %s holds no benchmark results: give the output of go test -bench or tiny-profiler benchmark --format bench", name)
	}
	f.units = br.Units()
	return f, nil
}

// resultName is a result's full name without "Benchmark" and without the
// GOMAXPROCS suffix: the host's core count says nothing of the board's
// time.
func resultName(n benchfmt.Name) string {
	base, parts := n.Parts()
	if len(parts) > 0 && strings.HasPrefix(string(parts[len(parts)-1]), "-") {
		parts = parts[:len(parts)-1]
	}
	var b strings.Builder
	b.Write(base)
	for _, p := range parts {
		b.Write(p)
	}
	return b.String()
}

// units returns the units of the comparison in bench.Units order, then
// the others in order of appearance.
func (c *Comparison) units() []string {
	var out []string
	for _, u := range bench.Units() {
		for _, m := range c.Metrics {
			if m.Unit == u.Name {
				out = append(out, u.Name)
				break
			}
		}
	}
	for _, m := range c.Metrics {
		if !slices.Contains(out, m.Unit) {
			out = append(out, m.Unit)
		}
	}
	return out
}
