package main

import (
	"fmt"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/tinyprof/tinyprof/model"
	"github.com/tinyprof/tinyprof/platform"
)

func newAnalyzeModel() *cobra.Command {
	var plat string
	var ctxLen int
	var asJSON, sha bool
	c := &cobra.Command{
		Use:   "analyze-model FILE",
		Short: "Read a model file and say what it needs and where it fits",
		Long: `analyze-model reads a GGUF (v2/v3) or llama2.c checkpoint's headers and tensor
table (not its weights, so multi-gigabyte files take milliseconds) and estimates
its memory on each platform of the catalogue, or on --platform.`,
		Args: cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
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
				plats = []platform.Platform{p}
			}
			type fit struct {
				Platform string           `json:"platform"`
				Fits     bool             `json:"fits"`
				Verdict  string           `json:"verdict"`
				Report   *model.FitReport `json:"report,omitempty"`
			}
			var fits []fit
			for _, p := range plats {
				r, err := model.Fit(info, p, model.FitConfig{Context: ctxLen})
				f := fit{Platform: p.Name, Report: r}
				if err != nil {
					f.Verdict = err.Error()
				} else {
					f.Fits, f.Verdict = r.Fits, r.Verdict
				}
				fits = append(fits, f)
			}
			if asJSON {
				return writeJSON(c.OutOrStdout(), struct {
					Model *model.Info `json:"model"`
					Fit   []fit       `json:"fit"`
				}{info, fits})
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
			tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "PLATFORM\tFITS\tMAX CONTEXT\tVERDICT")
			for _, f := range fits {
				maxCtx := "-"
				if f.Report != nil {
					maxCtx = fmt.Sprint(f.Report.MaxContext)
				}
				yes := "no"
				if f.Fits {
					yes = "yes"
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", f.Platform, yes, maxCtx, f.Verdict)
			}
			return tw.Flush()
		},
	}
	c.Flags().StringVar(&plat, "platform", "", "only this platform")
	c.Flags().IntVar(&ctxLen, "ctx", 0, "context length to plan for (default: the model's)")
	c.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	c.Flags().BoolVar(&sha, "sha256", false, "also hash the whole file")
	return c
}
