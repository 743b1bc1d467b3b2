package main

import (
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/tinyprof/tinyprof/model"
)

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
