package main

import (
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/tinyprof/tinyprof/bench/compare"
)

// exitRegression is the exit status of a tripped gate (or one that cannot
// decide for want of samples): distinct from 1, a command that failed.
const exitRegression = 3

// exitUnlike is the exit status of a gate that refused to judge because a
// benchmark's board, firmware, model or kind of board differs between the
// files, and found no regression among the benchmarks it could judge.
const exitUnlike = 4

func newCompare() *cobra.Command {
	var g gateFlags
	c := &cobra.Command{
		Use:   "compare OLD NEW",
		Short: "Compare two benchmark files as benchstat does, and gate on regressions",
		Long: `compare reads two files in the Go benchmark format (go test -bench output, or
tiny-profiler benchmark --format bench) and prints, per metric, each
benchmark's median with its confidence interval, the change, and its
significance (Mann–Whitney U test, as benchstat computes it). "~" means no
significant change; with fewer than 4 runs a side it says there are too few
samples for a verdict.

Configuration lines hold for the results after them, so each benchmark is
compared with its own: one whose board, platform, chip, firmware, model file
(model-sha256), quant, weights-in, prompt, MLPerf validity or kind of board
(simulated, emulated) differs between the files — or power-source, for the
power metrics — is marked "unlike" and said so. When that difference is the
change under test (a new firmware, say), name it with --ignore, as benchstat's
-ignore, to compare across it.

With --fail-on it exits with status 3 when a rule trips: a significant change
beyond the threshold, or too few samples to tell; and with status 4 when it
found none but refused to judge an unlike benchmark. Rules are comma-separated,
each METRIC > THRESHOLD or METRIC < THRESHOLD, the threshold a ratio (2x) or a
change in percent (-10%). Metrics: time per generation (sec/op), tokens/s,
prefill tokens/s, time to first token (ttft), p50/p95/p99 inter-token latency,
peak heap, peak psram, free heap after, power, energy per token — or any unit
in the files.`,
		Example: `  tiny-profiler compare old.txt new.txt
  tiny-profiler compare old.txt new.txt --fail-on 'p95 inter-token latency > 2x, tokens/s < -10%'
  tiny-profiler compare old-firmware.txt new-firmware.txt --ignore firmware --fail-on 'tokens/s < -10%'`,
		Args: func(c *cobra.Command, args []string) error {
			if len(args) != 2 {
				return usageError{fmt.Errorf("compare takes two files, OLD and NEW, got %d arguments", len(args))}
			}
			return nil
		},
		RunE: func(c *cobra.Command, args []string) error {
			gates, err := g.parse()
			if err != nil {
				return err
			}
			cmp, err := compare.Files(args[0], args[1], g.options())
			if err != nil {
				return err
			}
			return writeComparison(c.OutOrStdout(), cmp, gates)
		},
	}
	g.flags(c, "")
	return c
}

// gateFlags are the flags compare and benchmark --baseline share.
type gateFlags struct {
	failOn     string
	alpha      float64
	confidence float64
	ignore     []string
}

func (g *gateFlags) flags(c *cobra.Command, def string) {
	c.Flags().StringVar(&g.failOn, "fail-on", def, "exit with status 3 when a rule trips, e.g. 'p95 inter-token latency > 2x, tokens/s < -10%'")
	c.Flags().Float64Var(&g.alpha, "alpha", 0.05, "significance level: a change counts when p ≤ alpha")
	c.Flags().Float64Var(&g.confidence, "confidence", 0.95, "confidence level of the medians' intervals")
	c.Flags().StringSliceVar(&g.ignore, "ignore", nil, "configuration keys that may differ, being the change under test (e.g. firmware): "+strings.Join(compare.LikeKeys(), ", "))
}

func (g *gateFlags) parse() ([]compare.Gate, error) {
	if !(g.alpha > 0 && g.alpha < 1) || !(g.confidence > 0 && g.confidence < 1) {
		return nil, usageError{fmt.Errorf("--alpha and --confidence must lie between 0 and 1")}
	}
	for _, k := range g.ignore {
		if !slices.Contains(compare.LikeKeys(), k) {
			return nil, usageError{fmt.Errorf("--ignore %s: not a configuration key that may differ; use one of %s", k, strings.Join(compare.LikeKeys(), ", "))}
		}
	}
	if g.failOn == "" {
		return nil, nil
	}
	gates, err := compare.ParseGates(g.failOn)
	if err != nil {
		return nil, usageError{fmt.Errorf("--fail-on: %w", err)}
	}
	return gates, nil
}

func (g *gateFlags) options() compare.Options {
	return compare.Options{Alpha: g.alpha, Confidence: g.confidence, Ignore: g.ignore}
}

// writeComparison prints the comparison and the gates' verdicts, and
// returns an exitError when a gate trips (status 3) or, having found no
// regression, refused to judge an unlike benchmark (status 4).
func writeComparison(w io.Writer, cmp *compare.Comparison, gates []compare.Gate) error {
	if err := cmp.WriteTable(w); err != nil {
		return err
	}
	if len(gates) == 0 {
		return nil
	}
	verdicts, err := cmp.Check(gates)
	if err != nil {
		return err
	}
	fmt.Fprintln(w)
	for _, v := range verdicts {
		fmt.Fprintf(w, "gate %s\n", v)
	}
	if compare.Failed(verdicts) {
		return fmt.Errorf("regression gate failed: %w", exitError(exitRegression))
	}
	if compare.Refused(verdicts) {
		return fmt.Errorf("regression gate refused: a benchmark's configuration differs between %s and %s (see above), so its change is not the code's alone; compare like with like, or --ignore the key that is the change under test: %w",
			cmp.Old, cmp.New, exitError(exitUnlike))
	}
	return nil
}
