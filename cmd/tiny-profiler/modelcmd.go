package main

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/tinyprof/tinyprof/model"
	"github.com/tinyprof/tinyprof/platform"
)

func newAnalyzeModel() *cobra.Command {
	var plat string
	var pf placeFlags
	var asJSON, sha bool
	c := &cobra.Command{
		Use:   "analyze-model FILE",
		Short: "Read a model file and say what it needs and where it fits",
		Long: `analyze-model reads a GGUF (v2/v3) or llama2.c checkpoint's headers and tensor
table (not its weights, so multi-gigabyte files take milliseconds) and places it
on each platform of the catalogue, or on --platform: every tensor group (token
embedding, each layer, classifier), the KV cache, the activations and the
tokenizer, after the firmware's own reservation. It is the placement a simulated
board makes and the benchmark checks before an upload, so the three agree.

With --platform it prints where each item goes, each region's use and the
firmware's reservations with their sources; when the model does not fit it
names the item, the shortfall and the cheapest change that makes it fit (each
change checked by placing the model again), and exits with status 5.

--cpu-mhz and --cores are checked against the chip (they do not change what
fits) so that a configuration can be validated before a benchmark.`,
		Example: `  tiny-profiler analyze-model stories15M-q4_0.gguf
  tiny-profiler analyze-model stories15M-q4_0.gguf --platform esp32s3 --weights-in psram
  tiny-profiler analyze-model stories260K.bin --platform rp2040 --ctx 128 --json`,
		Args: cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			cfg, err := pf.fitConfig()
			if err != nil {
				return err
			}
			if pf.clockSet() && plat == "" {
				return usageError{fmt.Errorf("--cpu-mhz and --cores configure one board: name it with --platform")}
			}
			info, err := model.AnalyzeWith(c.Context(), args[0], model.AnalyzeOptions{SHA256: sha})
			if err != nil {
				return err
			}
			plats := platform.All()
			if plat != "" {
				p, err := platform.Lookup(plat)
				if err != nil {
					return usageError{err}
				}
				if p, err = pf.platform(p); err != nil {
					return err
				}
				plats = []platform.Platform{p}
			}
			type fit struct {
				Platform string           `json:"platform"`
				CPUMHz   int              `json:"cpu_mhz"`
				Cores    int              `json:"cores"`
				Fits     bool             `json:"fits"`
				Verdict  string           `json:"verdict"`
				Fixes    []model.Fix      `json:"fixes,omitempty"`
				Report   *model.FitReport `json:"report,omitempty"`
			}
			var fits []fit
			for _, p := range plats {
				r, err := model.Fit(info, p, cfg)
				f := fit{Platform: p.Name, CPUMHz: p.CPUMHz, Cores: p.Cores, Report: r}
				var fe *model.FitError
				switch {
				case errors.As(err, &fe):
					f.Verdict, f.Fixes = err.Error(), fe.Fixes
				case err != nil:
					return usageError{err} // a configuration Fit cannot place at all
				default:
					f.Fits, f.Verdict = r.Fits, r.Verdict
				}
				fits = append(fits, f)
			}
			var status error
			if plat != "" && !fits[0].Fits {
				status = fmt.Errorf("%s does not fit %s (%w)", args[0], fits[0].Platform, exitError(exitNoFit))
			}
			if asJSON {
				if err := writeJSON(c.OutOrStdout(), struct {
					Model *model.Info `json:"model"`
					Fit   []fit       `json:"fit"`
				}{info, fits}); err != nil {
					return err
				}
				return status
			}
			w := c.OutOrStdout()
			fmt.Fprintf(w, "%s: %s v%d, %s, %d layers, dim %d, ffn %d, heads %d/%d kv, vocab %d, context %d\n",
				args[0], info.Format, info.Version, info.Architecture, info.Layers, info.Embedding, info.FeedForward,
				info.Heads, info.KVHeads, info.Vocab, info.Context)
			fmt.Fprintf(w, "%d parameters, %.2f bits per weight, weights %s, file %s\n",
				info.Parameters, info.BitsPerWeight, kib(info.WeightBytes), kib(info.FileSize))
			if info.SHA256 != "" {
				fmt.Fprintf(w, "sha256 %s\n", info.SHA256)
			}
			if plat != "" {
				if err := writePlacement(w, plats[0], fits[0].Report); err != nil {
					return err
				}
				fmt.Fprintf(w, "verdict: %s\n", fits[0].Verdict)
				return status
			}
			tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "PLATFORM\tFITS\tWEIGHTS IN\tMAX CONTEXT\tVERDICT")
			for _, f := range fits {
				maxCtx, in := "-", "-"
				if f.Report != nil {
					maxCtx = fmt.Sprint(f.Report.MaxContext)
					if r := f.Report.WeightsIn(); r != "" {
						in = string(r)
					}
				}
				yes := "no"
				if f.Fits {
					yes = "yes"
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", f.Platform, yes, in, maxCtx, f.Verdict)
			}
			return tw.Flush()
		},
	}
	c.Flags().StringVar(&plat, "platform", "", "only this platform, in detail; exit status 5 if the model does not fit it")
	pf.flags(c)
	c.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	c.Flags().BoolVar(&sha, "sha256", false, "also hash the whole file")
	return c
}

// writePlacement prints where each item of r goes on p, each region's
// use, and the firmware's reservations with their sources.
func writePlacement(w io.Writer, p platform.Platform, r *model.FitReport) error {
	fmt.Fprintf(w, "%s: %s, %d× %s at %d MHz, context %d, KV cache %d bytes per element\n", p.Name, p.Board, p.Cores, p.Core, p.CPUMHz, r.Context, r.KVBytesPerElem)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ITEM\tKIND\tBYTES\tREGION")
	for _, it := range r.Items {
		region := string(it.Region)
		if region == "" {
			region = "(nowhere)"
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\n", it.Name, it.Kind, it.Bytes, region)
	}
	fmt.Fprintln(tw, "\nREGION\tSIZE\tFIRMWARE\tFREE\tUSED")
	for _, u := range r.Regions {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\n", u.Region, u.Size, u.Reserved, u.Capacity, u.Used)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(w, "firmware reservation:")
	for _, res := range r.Reservations {
		fmt.Fprintf(w, "  %s %d B: %s [%s]\n", res.Region, res.Bytes, res.What, res.Source)
	}
	return nil
}

func newQuantize() *cobra.Command {
	var typ string
	var bits, group, workers int
	var llama2c, asJSON, keepEmb bool
	c := &cobra.Command{
		Use:   "quantize IN OUT",
		Short: "Re-quantize a model to a ggml type (GGUF) or the llama2.c int8 export",
		Long: `quantize converts every matrix of IN (GGUF of any type tinyprof decodes, or a
llama2.c float32 checkpoint) to the asked type and writes OUT; tensors of types it
cannot decode are copied. A matrix whose rows are not whole blocks of the type
falls back to the nearest type that fits (q2_k -> q4_0, q4_k -> q5_0, else f16),
shown per tensor. It fails, writing nothing, if no matrix can take the type, or
on NaN or infinite weights. Work is spread over every CPU.`,
		Example: `  tiny-profiler quantize --type q4_0 model-f32.gguf model-q4_0.gguf
  tiny-profiler quantize --bits 8 --llama2c --group-size 32 stories260K.bin stories260K-q80.bin`,
		Args: cobra.ExactArgs(2),
		RunE: func(c *cobra.Command, args []string) error {
			opts := model.QuantizeOptions{Llama2C: llama2c, GroupSize: group, Workers: workers}
			switch {
			case typ != "" && bits != 0:
				return usageError{fmt.Errorf("give --type or --bits, not both")}
			case llama2c && typ != "":
				return usageError{fmt.Errorf("--llama2c writes llama2.c's int8 format, which has no --type; drop --type, or drop --llama2c for a GGUF file")}
			case llama2c && bits != 0 && bits != 8:
				return usageError{fmt.Errorf("--bits %d with --llama2c: llama2.c's export is int8 only; use --bits 8, or drop --llama2c for a %d-bit GGUF file", bits, bits)}
			case typ != "":
				t, err := model.ParseType(typ)
				if err != nil {
					return usageError{err}
				}
				opts.Type = t
			case bits != 0:
				t, err := model.TypeForBits(bits)
				if err != nil {
					return usageError{err}
				}
				opts.Type = t
			case !llama2c:
				return usageError{fmt.Errorf("give --type (q8_0, q4_0, q4_1, q5_0, q5_1, q2_k, q4_k) or --bits 8|4|2")}
			}
			if keepEmb {
				opts.Keep = model.KeepEmbeddings
			}
			prog := newProgress(c.ErrOrStderr())
			rep, err := model.Quantize(c.Context(), args[0], args[1], opts, func(done, total int64) {
				prog.update("quantizing", done, total, "bytes")
			})
			prog.done()
			if err != nil {
				return err
			}
			if asJSON {
				return writeJSON(c.OutOrStdout(), rep)
			}
			tw := tabwriter.NewWriter(c.OutOrStdout(), 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "TENSOR\tFROM\tTO\tBYTES BEFORE\tBYTES AFTER\tRMSE\tMAX ABS\tREL")
			for _, t := range rep.Tensors {
				to := strings.ToLower(t.To.String())
				switch {
				case t.Kept != "":
					to = "kept (" + t.Kept + ")"
				case t.Fallback != "":
					to += " (fallback: " + t.Fallback + ")"
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\t%.3g\t%.3g\t%.3g\n", t.Name, strings.ToLower(t.From.String()), to, t.BytesBefore, t.BytesAfter, t.RMSE, t.MaxAbs, t.Relative)
			}
			fmt.Fprintf(tw, "total\t\t\t%d\t%d\t\t\t\n", rep.BytesBefore, rep.BytesAfter)
			if err := tw.Flush(); err != nil {
				return err
			}
			fmt.Fprintf(c.OutOrStdout(), "wrote %s: %s -> %s\n", args[1], kib(rep.FileBefore), kib(rep.FileAfter))
			return nil
		},
	}
	c.Flags().StringVar(&typ, "type", "", "ggml type: q8_0, q4_0, q4_1, q5_0, q5_1, q2_k, q4_k, f16, bf16")
	c.Flags().IntVar(&bits, "bits", 0, "8, 4 or 2: pick the standard type of that width")
	c.Flags().IntVar(&group, "group-size", 0, "quantization group (fixed per ggml type; free for --llama2c)")
	c.Flags().BoolVar(&llama2c, "llama2c", false, "write llama2.c's int8 group-quantized export instead of GGUF")
	c.Flags().BoolVar(&keepEmb, "keep-embeddings", false, "keep token embedding and output tensors in source precision")
	c.Flags().BoolVar(&asJSON, "json", false, "print the per-tensor report as JSON")
	c.Flags().IntVar(&workers, "workers", 0, "goroutines converting at once (default: one per CPU); the output is the same for any value")
	return c
}
