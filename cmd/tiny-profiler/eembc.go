package main

import (
	"encoding/binary"
	"fmt"
	"hash/fnv"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/tinyprof/tinyprof/device/eembc"
	"github.com/tinyprof/tinyprof/lab"
)

// eembcRun is `benchmark --protocol eembc`: an MLPerf Tiny performance run
// on a board with the EEMBC EnergyRunner firmware.
type eembcRun struct {
	windows   int
	minWindow time.Duration
	warmup    int
	inputSize int
}

func (e *eembcRun) flags(c *cobra.Command) {
	c.Flags().IntVar(&e.windows, "windows", eembc.RuleWindows, "with --protocol eembc: timed windows (the rules require 5; other counts are reported invalid)")
	c.Flags().DurationVar(&e.minWindow, "min-window", eembc.RuleMinWindow, "with --protocol eembc: shortest window by the board's clock (the rules require 10s; shorter is reported invalid)")
	c.Flags().IntVar(&e.warmup, "eembc-warmup", -1, "with --protocol eembc: untimed inferences before each window; -1: the reference's for the board's model (5 for ic01, vww01; 10 for kws01, ad01)")
	c.Flags().IntVar(&e.inputSize, "input-size", 0, "with --protocol eembc: bytes of each generated input tensor; 0: what the board's model takes (kws01 490, vww01 27648, ic01 3072, ad01 2560)")
}

// run scores the board named by t. With --sim it starts a simulated DUT,
// whose timings are modelled.
func (e *eembcRun) run(c *cobra.Command, t *target, format string) error {
	if err := t.check(); err != nil {
		return err
	}
	if e.inputSize < 0 || e.inputSize > 96*96*3 {
		return usageError{fmt.Errorf("--input-size must be 1–%d bytes, or 0 for what the board's model takes", 96*96*3)}
	}
	if e.warmup < -1 {
		return usageError{fmt.Errorf("--eembc-warmup must be -1 (the reference's), 0 (none) or a count")}
	}
	// A port path, an inventory id of an EEMBC board, or --sim.
	be, err := t.entry()
	if err != nil {
		return err
	}
	if be.Kind() == lab.KindEmulated {
		return usageError{fmt.Errorf("an emulated board runs the tinyprof agent, not EEMBC firmware: drop --protocol eembc")}
	}
	if be.ID != "" && be.Protocol != lab.ProtocolEEMBC {
		return usageError{fmt.Errorf("inventory board %s runs the tinyprof agent, not EEMBC firmware: drop --protocol eembc", be.ID)}
	}
	if be.Baud == 0 {
		be.Baud = t.baud
	}
	port, closePort, err := lab.ConnectEEMBC(c.Context(), be)
	if err != nil {
		return err
	}
	defer closePort()
	simulated, path := be.Kind() == lab.KindSimulated, be.Port
	if n, ok := port.(interface{ Name() string }); ok {
		path = n.Name()
	}
	// The infer time-outs scale from the board's first inference (at most
	// a minute): a slow board is not taken for a dead port.
	client := eembc.New(port, eembc.Options{Timeout: t.timeout})
	defer client.Close()

	prog := newProgress(c.ErrOrStderr())
	score, err := eembc.Run(c.Context(), client, eembc.ScoreConfig{
		MakeInputs: e.inputs, Windows: e.windows, MinWindow: e.minWindow, Warmup: warmup(e.warmup),
		Progress: func(done, total int) { prog.update("MLPerf Tiny windows", int64(done), int64(total), "windows") },
	})
	prog.done()
	if err != nil {
		return err
	}
	out := c.OutOrStdout()
	if format == "json" {
		return writeJSON(out, struct {
			Schema    string `json:"schema"`
			Port      string `json:"port"`
			Simulated bool   `json:"simulated"`
			*eembc.Score
		}{"tinyprof.mlperf-tiny/v1", path, simulated, score})
	}
	label := ""
	if simulated {
		label = " (simulated: modelled, not measured)"
		fmt.Fprintln(out, "simulated EEMBC DUT: figures are modelled, not measured")
	}
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "board\t%s on %s, %s, model %s\n", score.Name, path, score.Profile.Firmware, score.Profile.Model)
	warm := ""
	if ref, ok := eembc.ReferenceFor(score.Profile.Model); ok && e.warmup == -1 && ref.Warmup == score.Warmup {
		warm = fmt.Sprintf(" (warm-up %d, the reference's for %s)", score.Warmup, score.Profile.Model)
	}
	fmt.Fprintf(tw, "windows\t%d × infer %d %d%s\n", len(score.Windows), score.N, score.Warmup, warm)
	for _, r := range score.Resizes {
		fmt.Fprintf(tw, "  re-sized\t%s\n", r)
	}
	for i, w := range score.Windows {
		fmt.Fprintf(tw, "  window %d\t%.3f s, %.2f inf/s%s\n", i+1, float64(w.ElapsedUS)/1e6, w.Throughput(), label)
	}
	fmt.Fprintf(tw, "median throughput\t%.3f inf/s%s\n", score.MedianThroughput, label)
	fmt.Fprintf(tw, "latency\t%.3f ms (1000 / median throughput)%s\n", score.LatencyMS, label)
	for _, n := range score.Notes {
		fmt.Fprintf(tw, "note\t%s\n", n)
	}
	if score.Valid {
		fmt.Fprintf(tw, "valid run\tyes\n")
		return tw.Flush()
	}
	fmt.Fprintf(tw, "valid run\tno\n")
	for _, p := range score.Problems {
		fmt.Fprintf(tw, "  not valid\t%s\n", p)
	}
	return tw.Flush()
}

// inputs makes the five input tensors of a run, of --input-size bytes or,
// by default, of the size the board's model takes.
func (e *eembcRun) inputs(model string) ([][]byte, error) {
	size := e.inputSize
	if size == 0 {
		ref, ok := eembc.ReferenceFor(model)
		if !ok {
			return nil, usageError{fmt.Errorf("the board runs %s, whose input size the reference runner does not fix: give --input-size", model)}
		}
		size = ref.InputSize
	}
	return eembcInputs(size, eembc.RuleWindows), nil
}

// eembcInputs makes n deterministic input tensors of size bytes. MLPerf
// Tiny's median performance runs five different inputs; their values do
// not change the timing of a fixed-size network.
func eembcInputs(size, n int) [][]byte {
	out := make([][]byte, n)
	for i := range out {
		h := fnv.New64a()
		b := make([]byte, size)
		for off := 0; off < size; off += 8 {
			h.Write([]byte{byte(i), byte(off), byte(off >> 8)})
			var w [8]byte
			binary.LittleEndian.PutUint64(w[:], h.Sum64())
			copy(b[off:], w[:])
		}
		out[i] = b
	}
	return out
}

// warmup maps the flag (-1 the reference's, 0 none) to ScoreConfig's
// Warmup (0 the reference's, negative none).
func warmup(n int) int {
	switch n {
	case -1:
		return 0
	case 0:
		return -1
	}
	return n
}
