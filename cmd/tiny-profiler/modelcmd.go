package main

import (
	"errors"
	"fmt"
	"io"
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
