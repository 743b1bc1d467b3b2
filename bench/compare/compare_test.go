package compare_test

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/perf/benchfmt"
	"golang.org/x/perf/benchproc"

	"github.com/tinyprof/tinyprof/bench"
	"github.com/tinyprof/tinyprof/bench/compare"
	"github.com/tinyprof/tinyprof/bench/report"
	"github.com/tinyprof/tinyprof/device/sim"
	"github.com/tinyprof/tinyprof/fixtures"
)

// profileBench profiles the built-in model on an in-memory simulated
// board and returns the report in the Go benchmark format.
func profileBench(t *testing.T, opts sim.Options, runs int) []byte {
	t.Helper()
	dev := pipeBoard(t, opts)
	model := fixtures.Llama2C(fixtures.Stories260K, fixtures.Seed)
	rep, err := report.Profile(t.Context(), dev, bytes.NewReader(model), int64(len(model)),
		report.Config{Runs: runs, Tokens: 32, ModelName: "stories260k", Quant: "f32", Seed: uint32(opts.Seed)})
	require.NoError(t, err)
	var b bytes.Buffer
	require.NoError(t, rep.WriteBench(&b))
	return b.Bytes()
}

var runbookGate = "p95 inter-token latency > 2x, tokens/s < -10%"

// TestCompareFlagsSeededRegression seeds a 2.5x stall on every 10th token
// (the p95 inter-token latency more than doubles, the median barely
// moves) and checks the runbook's gate trips on it, and only on it. The
// files are kept in t.ArtifactDir() for benchstat.
func TestCompareFlagsSeededRegression(t *testing.T) {
	old := profileBench(t, sim.Options{Seed: 1, Jitter: 0.05}, 10)
	new := profileBench(t, sim.Options{Seed: 2, Jitter: 0.05, Faults: sim.Faults{StallEvery: 10, StallFactor: 2.5}}, 10)
	dir := t.ArtifactDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "old.txt"), old, 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "new.txt"), new, 0o644))

	c, err := compare.Compare(bytes.NewReader(old), bytes.NewReader(new), "old.txt", "new.txt", compare.Options{})
	require.NoError(t, err)
	gates, err := compare.ParseGates(runbookGate)
	require.NoError(t, err)
	verdicts, err := c.Check(gates)
	require.NoError(t, err)
	require.Len(t, verdicts, 2)
	assert.True(t, compare.Failed(verdicts))
	assert.True(t, verdicts[0].Tripped, "p95: %s", verdicts[0])
	assert.Equal(t, "itl-p95-sec", verdicts[0].Metric.Unit)
	assert.Greater(t, verdicts[0].Metric.Ratio, 2.0)
	// The stalls also cost decode throughput: the second rule trips exactly
	// when it fell by more than 10%.
	assert.Equal(t, verdicts[1].Metric.Ratio < 0.9, verdicts[1].Tripped, "%s", verdicts[1])

	var table strings.Builder
	require.NoError(t, c.WriteTable(&table))
	t.Log("\n" + table.String())
	assert.Contains(t, table.String(), "itl-p95-sec (p95 inter-token latency)")
	assert.Regexp(t, `\+1\d\d\.\d\d% \(p=0\.000 n=10\+10\)`, table.String())
	assert.Contains(t, table.String(), "simulated: figures are modelled, not measured")
}

// TestCompareSilentOnSameDistribution draws pairs of runs from one
// distribution (the same jittery board, different seeds) and checks the
// gate never trips.
func TestCompareSilentOnSameDistribution(t *testing.T) {
	gates, err := compare.ParseGates(runbookGate)
	require.NoError(t, err)
	t.Parallel()
	for pair := range 6 {
		seed := uint64(10 + 2*pair)
		old := profileBench(t, sim.Options{Seed: seed, Jitter: 0.05}, 10)
		new := profileBench(t, sim.Options{Seed: seed + 1, Jitter: 0.05}, 10)
		c, err := compare.Compare(bytes.NewReader(old), bytes.NewReader(new), "old.txt", "new.txt", compare.Options{})
		require.NoError(t, err)
		verdicts, err := c.Check(gates)
		require.NoError(t, err)
		for _, v := range verdicts {
			assert.False(t, v.Tripped || v.Undecided, "pair %d: %s", pair, v)
		}
	}
}

const goodFile = `board: sim-esp32s3
platform: esp32s3
simulated: true
BenchmarkGenerate/platform=esp32s3-2 1 100 ns/op 10 tok/s
BenchmarkGenerate/platform=esp32s3-2 1 101 ns/op 11 tok/s
BenchmarkGenerate/platform=esp32s3-2 1 102 ns/op 10 tok/s
BenchmarkGenerate/platform=esp32s3-2 1 100 ns/op 12 tok/s
BenchmarkGenerate/platform=esp32s3-2 1 103 ns/op 10 tok/s
`

func TestCompareBadInput(t *testing.T) {
	tests := []struct {
		name, old, new, want string
	}{
		{"empty", "", goodFile, "old.txt holds no benchmark results"},
		{"not benchmark output", "PASS\nok  \tpkg\t0.1s\n", goodFile, "holds no benchmark results"},
		{"corrupt line", goodFile, goodFile + "BenchmarkGenerate/platform=esp32s3-2 1 abc ns/op\n", "new.txt is corrupt"},
		{"truncated line", goodFile, goodFile + "BenchmarkGenerate/platform=esp32s3-2 1 100\n", "new.txt is corrupt"},
		{"mismatched units", goodFile, strings.ReplaceAll(strings.ReplaceAll(goodFile, "tok/s", "tokens/s"), "ns/op", "ms/op"), "no benchmark and unit in common"},
		{"two boards in one file", goodFile, goodFile + "board: sim-esp32s3-2\nBenchmarkGenerate/platform=esp32s3-2 1 100 ns/op 10 tok/s\n", `has results with board "sim-esp32s3" and "sim-esp32s3-2" in one file`},
		{"not a number", goodFile, goodFile + "BenchmarkGenerate/platform=esp32s3-2 1 NaN ns/op 10 tok/s\n", "not a measurement"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := compare.Compare(strings.NewReader(tt.old), strings.NewReader(tt.new), "old.txt", "new.txt", compare.Options{})
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.want)
		})
	}
}

// TestCompareTooFewSamples checks that three runs a side are "too few for
// a verdict", never "no change", and that a gate cannot pass on them.
func TestCompareTooFewSamples(t *testing.T) {
	lines := strings.Split(strings.TrimSpace(goodFile), "\n")
	three := strings.Join(lines[:6], "\n") + "\n"
	slower := strings.ReplaceAll(three, " 10 tok/s", " 5 tok/s")
	c, err := compare.Compare(strings.NewReader(three), strings.NewReader(slower), "old.txt", "new.txt", compare.Options{})
	require.NoError(t, err)
	var table strings.Builder
	require.NoError(t, c.WriteTable(&table))
	assert.Contains(t, table.String(), "too few samples for a verdict (n=3+3; need 4 a side)")
	assert.NotContains(t, table.String(), "~")
	gates, err := compare.ParseGates("tokens/s < -10%")
	require.NoError(t, err)
	v, err := c.Check(gates)
	require.NoError(t, err)
	require.Len(t, v, 1)
	assert.True(t, v[0].Undecided)
	assert.True(t, compare.Failed(v))
	assert.Contains(t, v[0].String(), "too few samples for a verdict")
}

func TestParseGates(t *testing.T) {
	g, err := compare.ParseGates("p95 inter-token latency > 2x, tokens/s < -10%, TTFT > +25%, peak-heap-B > 1.1x")
	require.NoError(t, err)
	type short struct {
		Unit  string
		Above bool
		Ratio float64
	}
	var got []short
	for _, x := range g {
		got = append(got, short{x.Unit, x.Above, x.Ratio})
	}
	assert.Equal(t, []short{{"itl-p95-sec", true, 2}, {"tok/s", false, 0.9}, {"ttft-sec", true, 1.25}, {"peak-heap-B", true, 1.1}}, got)

	for in, want := range map[string]string{
		"":                    "no gate rules",
		"latency":             "want METRIC > THRESHOLD",
		"frobs > 2x":          `unknown metric "frobs"`,
		"tok/s < 10":          "needs a unit",
		"tok/s < -200%":       "above -100%",
		"tok/s > 0x":          "positive ratio",
		"p95 itl > twice x":   "positive ratio",
		"tok/s < -10%, x > 1": `unknown metric "x"`,
	} {
		_, err := compare.ParseGates(in)
		if assert.Error(t, err, in) {
			assert.Contains(t, err.Error(), want, in)
		}
	}
}

// TestCompareGateOnMissingMetric checks a gate on a metric the files lack
// is an error, not a pass.
func TestCompareGateOnMissingMetric(t *testing.T) {
	c, err := compare.Compare(strings.NewReader(goodFile), strings.NewReader(goodFile), "old.txt", "new.txt", compare.Options{})
	require.NoError(t, err)
	g, err := compare.ParseGates("p95 inter-token latency > 2x")
	require.NoError(t, err)
	_, err = c.Check(g)
	assert.ErrorContains(t, err, "do not both report")
}

// TestGoTestAndCLIFilesCompare runs one case as go test -bench runs it
// (bench.Generate in a sub-benchmark named with bench.Name, with its
// -GOMAXPROCS suffix and the host lines go test prints) and as
// tiny-profiler benchmark --format bench runs it (report.Profile) on the
// same simulated board. Compare finds every metric of each in the other,
// with no configuration differing, in both directions — a CLI baseline
// gates a go test run and back — and benchstat, told to ignore the lines
// only go test can write (pkg, cpu, the GOMAXPROCS suffix), puts them in one
// table and one row.
func TestGoTestAndCLIFilesCompare(t *testing.T) {
	const tokens = 8
	model := fixtures.Llama2C(fixtures.Stories260K, fixtures.Seed)
	dev := pipeBoard(t, sim.Options{Platform: "esp32s3"})
	var goTest bytes.Buffer
	fmt.Fprintf(&goTest, "goos: %s\ngoarch: %s\npkg: example.com/mymodule/bench\ncpu: Example CPU @ 2.00GHz\n", runtime.GOOS, runtime.GOARCH)
	// As go test -bench -benchtime 1x -count 5 runs it: five results of one
	// generation each, enough samples a side for the gate's verdict.
	bt := flag.Lookup("test.benchtime")
	prev := bt.Value.String()
	require.NoError(t, bt.Value.Set("1x"))
	t.Cleanup(func() { _ = bt.Value.Set(prev) })
	var results []string
	for range 5 {
		r := testing.Benchmark(func(b *testing.B) {
			bench.Generate(b, dev, model, bench.Tokens(tokens), bench.ModelName("stories260k"), bench.Quant("f32"), bench.ConfigTo(&goTest))
		})
		require.Positive(t, r.N, "the benchmark failed")
		results = append(results, fmt.Sprintf("BenchmarkGenerate/%s-2\t%s\n", bench.Name("esp32s3", "stories260k", "f32", tokens), r.String()))
	}
	// go test writes the configuration once, before the first result.
	cfgEnd := bytes.LastIndex(goTest.Bytes(), []byte("Unit ")) // after the last Unit line
	cfgEnd += bytes.IndexByte(goTest.Bytes()[cfgEnd:], '\n') + 1
	goTestFile := string(goTest.Bytes()[:cfgEnd]) + strings.Join(results, "")

	rep, err := report.Profile(t.Context(), pipeBoard(t, sim.Options{Platform: "esp32s3"}), bytes.NewReader(model), int64(len(model)),
		// No reads during generations: whether one lands inside a
		// generation depends on the host's speed, and only the CLI takes
		// them, adding min-free-heap-gen-B, a unit go test lacks.
		report.Config{Runs: 5, Tokens: tokens, ModelName: "stories260k", Quant: "f32", SampleEvery: -1})
	require.NoError(t, err)
	var cli bytes.Buffer
	require.NoError(t, rep.WriteBench(&cli))
	cliFile := cli.String()
	t.Logf("go test:\n%s\nCLI:\n%s", goTestFile, cliFile)

	units := map[string]bool{}
	for _, dir := range []struct{ oldName, old, newName, new string }{
		{"cli.txt", cliFile, "gotest.txt", goTestFile},
		{"gotest.txt", goTestFile, "cli.txt", cliFile},
	} {
		c, err := compare.Compare(strings.NewReader(dir.old), strings.NewReader(dir.new), dir.oldName, dir.newName, compare.Options{})
		require.NoError(t, err)
		assert.Empty(t, c.ConfigDiffers, "%s against %s: every configuration key written alike", dir.oldName, dir.newName)
		assert.Empty(t, c.OnlyOld, "every metric of %s is in %s", dir.oldName, dir.newName)
		assert.Empty(t, c.OnlyNew, "every metric of %s is in %s", dir.newName, dir.oldName)
		for _, m := range c.Metrics {
			assert.Equal(t, "Generate/platform=esp32s3/model=stories260k/quant=f32/tokens=8", m.Benchmark)
			assert.Empty(t, m.Unlike)
			units[m.Unit] = true
		}
		for _, u := range []string{"sec/op", "tok/s", "ttft-sec", "itl-p95-sec", "peak-heap-B", "W", "J/tok"} {
			assert.True(t, units[u], "%s in both files", u)
		}
		gates, err := compare.ParseGates("p95 inter-token latency > 2x, tokens/s < -10%")
		require.NoError(t, err)
		vs, err := c.Check(gates)
		require.NoError(t, err)
		assert.False(t, compare.Failed(vs) || compare.Refused(vs), "%v", vs)
	}

	// benchstat's default projection (-table .config -row .fullname -col
	// .file), with -ignore pkg,cpu,/gomaxprocs.
	var pp benchproc.ProjectionParser
	table, _, err := pp.ParseWithUnit(".config", nil)
	require.NoError(t, err)
	row, err := pp.Parse(".fullname", nil)
	require.NoError(t, err)
	_, err = pp.Parse("pkg,cpu,/gomaxprocs", nil)
	require.NoError(t, err)
	tables, rows := map[benchproc.Key]bool{}, map[benchproc.Key]bool{}
	for name, file := range map[string]string{"cli.txt": cliFile, "gotest.txt": goTestFile} {
		r := benchfmt.NewReader(strings.NewReader(file), name)
		for r.Scan() {
			res, ok := r.Result().(*benchfmt.Result)
			if !ok {
				continue // Unit metadata
			}
			for _, k := range table.ProjectValues(res) {
				tables[k] = true
			}
			rows[row.Project(res)] = true
		}
		require.NoError(t, r.Err())
	}
	assert.Len(t, rows, 1, "benchstat puts both files' results in one row: %v", rows)
	assert.Len(t, tables, len(units), "one table per unit, each holding both files: %v", tables)
}
