package bench_test

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/perf/benchfmt"

	"github.com/tinyprof/tinyprof/bench"
	"github.com/tinyprof/tinyprof/device/eembc"
	"github.com/tinyprof/tinyprof/hwtest"
)

// eembcLab leases the one simulated MLPerf Tiny board of an inventory, as
// a user's lab would list it.
func eembcLab(t testing.TB) *hwtest.EEMBCBoard {
	t.Helper()
	if !hwtest.Simulated {
		t.Skip("needs the simulated build's eembc board")
	}
	dir := t.TempDir()
	inv := filepath.Join(dir, "inventory.yaml")
	require.NoError(t, os.WriteFile(inv, []byte("boards:\n  - {id: sim-kws, platform: stm32h7, protocol: eembc, sim: true}\n"), 0o644))
	lab, err := hwtest.NewLab(hwtest.Config{Inventory: inv, LeaseDir: filepath.Join(dir, "leases"), JournalDir: filepath.Join(dir, "journal")})
	require.NoError(t, err)
	return lab.LeaseEEMBC(t)
}

// label names a leased MLPerf Tiny board for MLPerf.
func label(board *hwtest.EEMBCBoard) bench.Label {
	return bench.Label{Board: board.Entry.ID, Platform: board.Entry.Platform, Simulated: board.Entry.Sim}
}

// kwsInputs returns n kws01-sized input tensors.
func kwsInputs(n int) [][]byte {
	out := make([][]byte, n)
	for i := range out {
		out[i] = bytes.Repeat([]byte{byte(i + 1)}, 490)
	}
	return out
}

// MLPerf reports what the simulated DUT models: 16,760 µs per inference
// is 59.67 inf/s and 16.76 ms/inf, and ns/op is the board's time per
// inference, not the host's per run.
func TestMLPerfMatchesSimulatedDUT(t *testing.T) {
	board := eembcLab(t)
	var cfg bytes.Buffer
	r := testing.Benchmark(func(b *testing.B) {
		bench.MLPerf(b, board.Client, label(board), eembc.ScoreConfig{Inputs: kwsInputs(5)}, bench.ConfigTo(&cfg))
	})
	require.Positive(t, r.N, "the benchmark failed")
	assert.InDelta(t, 1e6/16760.0, r.Extra["inf/s"], 1e-9)
	assert.InDelta(t, 16.76, r.Extra["ms/inf"], 1e-9)
	assert.InDelta(t, 16_760_000, r.Extra["ns/op"], 1e-3)
	assert.InDelta(t, 16_760_000, r.NsPerOp(), 1)

	got := readConfig(t, cfg.String())
	assert.Equal(t, map[string]string{"board": "sim-kws", "platform": "stm32h7",
		"firmware": "ULPMark for tinyML Firmware V0.0.1", "model": "kws01", "simulated": "true", "valid": "true"}, got,
		"Generate's chip, quant and the like are cleared")
	assert.Contains(t, cfg.String(), "Unit inf/s better=higher\n")
}

// A run that breaks the rules is reported, marked invalid.
func TestMLPerfInvalidRun(t *testing.T) {
	board := eembcLab(t)
	var cfg bytes.Buffer
	r := testing.Benchmark(func(b *testing.B) {
		bench.MLPerf(b, board.Client, label(board), eembc.ScoreConfig{Inputs: kwsInputs(1), Windows: 3}, bench.ConfigTo(&cfg))
	})
	require.Positive(t, r.N, "the benchmark failed")
	assert.InDelta(t, 1e6/16760.0, r.Extra["inf/s"], 1e-9, "the figures are still what was measured")
	assert.Equal(t, "false", readConfig(t, cfg.String())["valid"])
}

// A benchmark leases its MLPerf Tiny board and runs MLPerf; go test
// -bench prints the configuration lines before its result, for benchstat.
func BenchmarkMLPerf(b *testing.B) {
	board := eembcLab(b)
	bench.MLPerf(b, board.Client, label(board), eembc.ScoreConfig{Inputs: kwsInputs(5)})
}

// readConfig returns the configuration a result following block would
// carry, as benchstat reads it, after a block from Generate.
func readConfig(t *testing.T, block string) map[string]string {
	t.Helper()
	text := "chip: ESP32-S3\nquant: q4_0\nweights-in: psram\n" + block + "BenchmarkMLPerf\t1\t16760000 ns/op\n"
	rd := benchfmt.NewReader(strings.NewReader(text), "mlperf.txt")
	got := map[string]string{}
	for rd.Scan() {
		if res, ok := rd.Result().(*benchfmt.Result); ok {
			for _, c := range res.Config {
				got[c.Key] = string(c.Value)
			}
		}
	}
	require.NoError(t, rd.Err())
	return got
}
