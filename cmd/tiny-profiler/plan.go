package main

import (
	"fmt"
	"io"
	"math"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/tinyprof/tinyprof/firmware"
	"github.com/tinyprof/tinyprof/model"
	"github.com/tinyprof/tinyprof/plan"
	"github.com/tinyprof/tinyprof/platform"
	"github.com/tinyprof/tinyprof/platform/cost"
)

func newPlan() *cobra.Command {
	var plat, apply, formats string
	var opts plan.Options
	var noPSRAM, singleCore, asJSON bool
	var top int
	c := &cobra.Command{
		Use:   "plan MODEL --platform P",
		Short: "Rank the ways a model can run on a board by predicted tok/s (modelled)",
		Long: `plan tries every weight format tinyprof prices × where the weights live ×
context × cores × clock, keeps those that fit (model.Fit, as analyze-model and
the simulated board place them), and ranks them by the tokens per second the
cost model predicts, each with an interval from its leave-one-out error and a
note when it lies outside what the published measurements cover. It then says
why the fastest rejected configurations were rejected. Every figure is
modelled, not measured.

--apply OUT writes the fastest configuration tinyprof can write: the model
quantized to its format (through the quantize command's code) at OUT, and the
plan at OUT.plan.json, which benchmark --plan runs.`,
		Example: `  tiny-profiler plan stories15M.bin --platform esp32s3
  tiny-profiler plan stories260K.bin --platform rp2350 --ctx 256 --min-tok-s 10 --json
  tiny-profiler plan stories15M.bin --platform imxrt1176 --apply s15m.gguf && tiny-profiler benchmark --plan s15m.gguf.plan.json`,
		Args: cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			if plat == "" {
				return usageError{fmt.Errorf("name the board with --platform (one of %s)", strings.Join(platform.Names(), ", "))}
			}
			p, err := platform.Lookup(plat)
			if err != nil {
				return usageError{err}
			}
			switch {
			case opts.Context < 0:
				return usageError{fmt.Errorf("--ctx must be positive, got %d", opts.Context)}
			case opts.MinTokPerSec < 0 || opts.MaxMJPerToken < 0:
				return usageError{fmt.Errorf("--min-tok-s and --max-mj-per-token must not be negative")}
			case opts.Tokens < 1:
				return usageError{fmt.Errorf("--tokens must be at least 1, got %d", opts.Tokens)}
			case top < 1:
				return usageError{fmt.Errorf("--top must be at least 1, got %d", top)}
			}
			opts.UsePSRAM, opts.DualCore = !noPSRAM, !singleCore
			if formats != "" {
				opts.Formats = strings.Split(formats, ",")
			}
			info, err := model.AnalyzeWith(c.Context(), args[0], model.AnalyzeOptions{})
			if err != nil {
				return err
			}
			pl, perr := plan.Optimize(info, p, opts)
			if pl == nil {
				return usageError{perr}
			}
			if asJSON {
				if err := writeJSON(c.OutOrStdout(), pl); err != nil {
					return err
				}
			} else {
				writePlan(c.OutOrStdout(), pl, top)
			}
			if perr != nil {
				return fmt.Errorf("%w on %s: the rejections above say why; try another format, --ctx, or a board with more memory", perr, p.Name)
			}
			if apply == "" {
				return nil
			}
			best, ok := pl.Writable()
			if !ok {
				return fmt.Errorf("no ranked configuration is in a format tinyprof can write")
			}
			if _, err := plan.Apply(c.Context(), args[0], best, apply); err != nil {
				return err
			}
			f := plan.File{Platform: p.Name, Model: apply, Source: args[0], Config: best.Config, Tokens: pl.Tokens, Prediction: best.Prediction}
			if err := f.WriteFile(apply + ".plan.json"); err != nil {
				return err
			}
			fmt.Fprintf(c.ErrOrStderr(), "wrote %s (%s) and %s.plan.json: run it with tiny-profiler benchmark --plan %s.plan.json\n", apply, best.Format, apply, apply)
			return nil
		},
	}
	c.Flags().StringVar(&plat, "platform", "", "the board (a catalogue key; see `tiny-profiler platforms`)")
	c.Flags().IntVar(&opts.Context, "ctx", 0, "context length (default: the model's, and the largest power of two that fits when it does not)")
	c.Flags().Float64Var(&opts.MinTokPerSec, "min-tok-s", 0, "reject configurations predicted slower than this")
	c.Flags().Float64Var(&opts.MaxMJPerToken, "max-mj-per-token", 0, "reject configurations predicted to take more energy per token (needs a power model: esp32, esp32s3)")
	c.Flags().IntVar(&opts.CPUMHz, "cpu-mhz", 0, "fix the clock (default: the board's maximum and half of it)")
	c.Flags().BoolVar(&noPSRAM, "no-psram", false, "keep weights and KV cache out of PSRAM (the runbook's use_psram=False)")
	c.Flags().BoolVar(&opts.SIMD, "simd", false, "price a firmware using the vendor's SIMD dot products (ESP-DSP, NEON); default: tinyprof's runtime, which has none")
	c.Flags().BoolVar(&singleCore, "single-core", false, "use one core (the runbook's use_dual_core=False)")
	c.Flags().StringVar(&formats, "formats", "", "comma-separated formats to try (default: all; see `tiny-profiler calibrate --formats`)")
	c.Flags().IntVar(&opts.Tokens, "tokens", 64, "price generations of this many tokens (benchmark's default), cut at the context's end")
	c.Flags().IntVar(&top, "top", 8, "ranked configurations to print")
	c.Flags().BoolVar(&asJSON, "json", false, "print the whole plan as JSON")
	c.Flags().StringVar(&apply, "apply", "", "write the fastest writable configuration's model here, and its plan at OUT.plan.json")
	return c
}

// writePlan prints the ranking and the rejections.
func writePlan(w io.Writer, pl *plan.Plan, top int) {
	fmt.Fprintf(w, "plan for %s on %s: %d configurations tried, %d fit; rates for %d-token generations after a %d-token prompt (modelled, not measured)\n\n",
		pl.Model, pl.Platform, pl.Tried, len(pl.Ranked), pl.Tokens, pl.PromptTokens)
	if len(pl.Ranked) > 0 {
		tw := tabwriter.NewWriter(w, 2, 8, 2, ' ', 0)
		fmt.Fprintln(tw, "#\tformat\tweights\tkv\tctx\tcores\tMHz\ttok/s (interval)\tTTFT\tfree\tmJ/tok\tnote")
		for i, c := range pl.Ranked {
			if i >= top {
				break
			}
			energy := "-"
			if c.HasEnergy {
				energy = fmt.Sprintf("%.1f", c.MJPerToken)
			}
			note := ""
			if len(c.Prediction.Outside) > 0 {
				note = "outside calibrated range"
			}
			if !c.Writable {
				note = strings.TrimPrefix(note+"; cannot --apply", "; ")
			}
			fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%d\t%d\t%d\t%.1f (%.1f–%.1f)\t%s\t%s\t%s\t%s\n", i+1, c.Format, c.WeightsIn, c.KVIn, c.Context, c.Cores, c.CPUMHz,
				c.Prediction.TokPerSec, c.Prediction.Low, c.Prediction.High, shortDuration(c.Prediction.TTFT), headroom(c.Headroom), energy, note)
		}
		tw.Flush()
		if best, ok := pl.Best(); ok && len(best.Prediction.Outside) > 0 {
			fmt.Fprintf(w, "\n#1 is outside the calibrated range: %s\n", best.Prediction.Note())
		}
		if best, ok := pl.Best(); ok {
			// The ranking is by speed alone; below 4 bits a weight loses
			// enough that a user should look before flashing.
			if f, err := cost.LookupFormat(best.Format); err == nil && f.BytesPerWeight()*8 < 4 {
				fmt.Fprintf(w, "\n#1 keeps %.2f bits a weight and is ranked for speed only: `tiny-profiler quantize` reports its per-tensor error, next-token agreement and perplexity on the host reference; look before you flash\n", f.BytesPerWeight()*8)
			}
		}
	}
	if len(pl.Rejected) > 0 {
		fmt.Fprintln(w, "\nrejected (fastest first):")
		for _, c := range pl.Rejected {
			speed := ""
			if c.Prediction.TokPerSec > 0 {
				speed = fmt.Sprintf(" (would be %.1f tok/s)", c.Prediction.TokPerSec)
			}
			if c.WeightBytes == 0 {
				fmt.Fprintf(w, "  %s: %s\n", c.Format, c.Rejected)
				continue
			}
			fmt.Fprintf(w, "  %s weights=%s ctx=%d%s: %s\n", c.Format, c.WeightsIn, c.Context, speed, c.Rejected)
		}
	}
}

// headroom prints each region's free bytes: "sram 140.7K psram 7.4M".
func headroom(hs []plan.Headroom) string {
	var parts []string
	for _, h := range hs {
		parts = append(parts, fmt.Sprintf("%s %s", h.Region, shortBytes(h.Free)))
	}
	return strings.Join(parts, " ")
}

func shortDuration(d time.Duration) string {
	if d >= time.Second {
		return fmt.Sprintf("%.2fs", d.Seconds())
	}
	return fmt.Sprintf("%.1fms", float64(d)/1e6)
}

func shortBytes(n int64) string {
	switch {
	case n >= 1<<20:
		return fmt.Sprintf("%.1fM", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1fK", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%dB", n)
}

func newCalibrate() *cobra.Command {
	var markdown, asJSON, listFormats bool
	c := &cobra.Command{
		Use:   "calibrate",
		Short: "Show the cost model's calibration: published figures, predictions, leave-one-out ratios",
		Long: `calibrate fits the cost model's two scales to the published measurements
(platform/cost/points.go, each citing its source and saying how it was
measured), cross-validates them by leaving each point out, and prints every
point's published figure, prediction, ratio and leave-one-out ratio.
--markdown prints the table the README carries.`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			if listFormats {
				tw := tabwriter.NewWriter(c.OutOrStdout(), 2, 8, 2, ' ', 0)
				fmt.Fprintln(tw, "kernel\tinstr/weight\tinstr/unit\t(emulated Cortex-M4F, platform/cost/kernels.json)")
				for _, k := range cost.Kernels() {
					fmt.Fprintf(tw, "%s\t%.2f\t%.2f\t\n", k.Name, k.InstrPerWeight, k.InstrPerUnit)
				}
				fmt.Fprintln(tw, "\nformat\tbytes/weight\tkernel\tmeasured\twritable\testimate")
				for _, f := range cost.Formats() {
					fmt.Fprintf(tw, "%s\t%.4f\t%s\t%v\t%v\t%s\n", f.Name, f.BytesPerWeight(), f.Kernel, f.Measured(), f.Writable, f.Estimate)
				}
				return tw.Flush()
			}
			cal, err := cost.Calibrate(cost.Points())
			if err != nil {
				return err
			}
			switch {
			case asJSON:
				return writeJSON(c.OutOrStdout(), cal)
			case markdown:
				return cost.WriteMarkdown(c.OutOrStdout(), cal)
			}
			tw := tabwriter.NewWriter(c.OutOrStdout(), 2, 8, 2, ' ', 0)
			fmt.Fprintln(tw, "point\tplatform\tpublished tok/s\tpredicted\tratio\tLOO predicted\tLOO ratio")
			for _, r := range cal.Rows {
				fmt.Fprintf(tw, "%s\t%s\t%.2f\t%.2f\t%.2f\t%.2f\t%.2f\n", r.Point.ID, r.Point.Platform, r.Point.TokPerSec, r.Predicted, r.Ratio, r.LOOPredicted, r.LOORatio)
			}
			tw.Flush()
			fmt.Fprintf(c.OutOrStdout(), "scales: compute ×%.3f, memory ×%.3f; leave-one-out σ %.3f (interval ×%.2f–×%.2f)\n",
				cal.Scales.Compute, cal.Scales.Memory, cal.Sigma, math.Exp(-cal.Sigma), math.Exp(cal.Sigma))
			return nil
		},
	}
	c.Flags().BoolVar(&markdown, "markdown", false, "print the README's Markdown table")
	c.Flags().BoolVar(&asJSON, "json", false, "print the calibration as JSON")
	c.Flags().BoolVar(&listFormats, "formats", false, "list the weight formats the cost model prices instead")
	return c
}

// usePlan reads a plan file for benchmark --plan: its model unless --model
// names one, and a simulated board of its platform, with its weights where
// the plan put them, unless a board is named.
func usePlan(path string, t *target, modelPath *string, flags *placeFlags) (*plan.File, error) {
	pf, err := plan.ReadFile(path)
	if err != nil {
		return nil, usageError{err}
	}
	if *modelPath == "" {
		*modelPath = pf.Model
	}
	switch {
	case t.sim != "" && !strings.EqualFold(t.sim, pf.Platform):
		return nil, usageError{fmt.Errorf("--plan is for %s, not --sim %s: drop --sim, or plan for %s", pf.Platform, t.sim, t.sim)}
	case t.device == "" && t.emulate == "":
		// A simulated board runs the plan's whole configuration.
		t.sim = pf.Platform
		if err := flags.adopt(pf); err != nil {
			return nil, err
		}
	}
	return pf, nil
}

// notePlan says how the board differs from the plan, and what the plan
// predicted, so the measured profile can be set against it.
func notePlan(w io.Writer, pf *plan.File, info *firmware.Info) {
	fmt.Fprintf(w, "plan: %s on %s, predicted %s (modelled)\n", pf.Config, pf.Platform, pf.Prediction.Interval())
	if info != nil && info.CPUMHz != 0 && int(info.CPUMHz) != pf.CPUMHz {
		fmt.Fprintf(w, "plan: the board runs at %d MHz, the plan at %d MHz\n", info.CPUMHz, pf.CPUMHz)
	}
	if info != nil && !strings.EqualFold(info.Platform, pf.Platform) {
		fmt.Fprintf(w, "plan: warning: the board is a %s, the plan is for %s\n", info.Platform, pf.Platform)
	}
}
