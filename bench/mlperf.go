package bench

import (
	"slices"
	"strconv"
	"testing"

	"github.com/tinyprof/tinyprof/bench/internal/stats"
	"github.com/tinyprof/tinyprof/device/eembc"
)

// Label names the board of an MLPerf run in its configuration lines. With
// a board leased from hwtest.LeaseEEMBC, it is
//
//	bench.Label{Board: board.Board, Platform: board.Platform, Simulated: board.Simulated}
type Label struct {
	// Board is a stable id for the board line, e.g. its inventory id.
	Board string
	// Platform is the platform catalogue's name for it.
	Platform string
	// Simulated says a simulated DUT produces the figures.
	Simulated bool
}

// MLPerf benchmarks an MLPerf Tiny board, reached through its EEMBC
// client c and named by board (one whose inventory entry says
// `protocol: eembc`, leased with hwtest.LeaseEEMBC), as MLPerf Tiny scores
// it. Each b.Loop iteration is one complete performance run, eembc.Run
// with cfg: timing one inference, then cfg.Windows windows (default 5) of
// at least cfg.MinWindow (default 10 s) by the board's own clock. A real
// board's run takes about a minute, so under the default -benchtime it
// runs once; a simulated board's clock is virtual, so it runs several
// times, with identical figures. It reports, from the board's clock:
//
//	inf/s    median throughput over the windows (the MLPerf Tiny score)
//	ms/inf   latency, 1000 / inf/s, as MLPerf Tiny derives it
//	ns/op    the board's median time per inference, 1e9 / inf/s, replacing
//	         the host's time per run, which counts the serial link
//
// With several runs, each figure is the median of the runs' figures.
//
// Before its result it writes configuration lines (see ConfigTo): board,
// platform (both from board), firmware (the DUT's profile string), model
// (kws01, vww01, ad01, ic01 or strww01), simulated (from board) and valid; the keys
// Generate writes that do not apply here are cleared. A run that breaks
// the rules — fewer than 5 windows, a window shorter than 10 s — is still
// reported, with `valid: false` and each problem logged with b.Logf. A run
// that fails fails the benchmark. cfg.Inputs is required (kws01 takes
// 490-byte tensors). MLPerf honours the ConfigTo option.
func MLPerf(b *testing.B, c *eembc.Client, board Label, cfg eembc.ScoreConfig, opts ...Option) {
	b.Helper()
	s := newSettings(opts)
	if c == nil {
		b.Fatal("bench.MLPerf: no EEMBC client: pass the leased board's Client")
	}
	if len(cfg.Inputs) == 0 {
		b.Fatal("bench.MLPerf: no input tensors: set ScoreConfig.Inputs (kws01 takes 490 bytes each, vww01 27648)")
	}
	ctx := b.Context()
	var scores []*eembc.Score
	for b.Loop() {
		score, err := eembc.Run(ctx, c, cfg)
		if err != nil {
			b.Fatalf("bench.MLPerf: run %d on %s: %v", len(scores)+1, board.Board, err)
		}
		scores = append(scores, score)
	}
	last := scores[len(scores)-1]
	valid := true
	var problems []string
	for _, sc := range scores {
		valid = valid && sc.Valid
		for _, p := range sc.Problems {
			if !slices.Contains(problems, p) {
				problems = append(problems, p)
			}
		}
	}
	for _, p := range problems {
		b.Logf("bench.MLPerf: not a valid MLPerf Tiny run: %s", p)
	}
	emitConfig(b, s.config, map[string]string{
		"board": board.Board, "platform": board.Platform, "chip": "", "firmware": last.Profile.Firmware,
		"model": last.Profile.Model, "model-sha256": "", "quant": "", "weights-in": "",
		"simulated": strconv.FormatBool(board.Simulated), "power-source": "",
		"valid": strconv.FormatBool(valid),
	}, mlperfUnits)

	tput := make([]float64, len(scores))
	for i, sc := range scores {
		tput[i] = sc.MedianThroughput
	}
	slices.Sort(tput)
	median := stats.Quantile(tput, 0.5)
	if median <= 0 {
		b.Fatalf("bench.MLPerf: %s reported no inferences in its windows: check its timer (m-lap-us)", board.Board)
	}
	b.ReportMetric(median, "inf/s")
	b.ReportMetric(1000/median, "ms/inf")
	b.ReportMetric(1e9/median, "ns/op")
}

// mlperfUnits are the metadata lines of MLPerf's own units.
const mlperfUnits = "Unit inf/s better=higher\nUnit ms/inf better=lower\n"
