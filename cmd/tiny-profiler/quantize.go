package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/tinyprof/tinyprof/fixtures"
	"github.com/tinyprof/tinyprof/model"
	"github.com/tinyprof/tinyprof/model/llama"
)

// qualityMaxBytes bounds the models whose quality quantize measures: the
// host reference holds the source and the output in memory.
const qualityMaxBytes = 1 << 30

func newQuantize() *cobra.Command {
	var typ, qualityText string
	var bits, group, workers int
	var llama2c, asJSON, keepEmb, asym, noQuality bool
	c := &cobra.Command{
		Use:   "quantize IN OUT",
		Short: "Re-quantize a model to a ggml type, a group-wise type (GGUF) or the llama2.c int8 export",
		Long: `quantize converts every matrix of IN (GGUF of any type tinyprof decodes, or a
llama2.c float32 checkpoint) to the asked type and writes OUT; tensors of types it
cannot decode are copied.

--bits 8|4|2 alone picks ggml's type of that width (q8_0, q4_0, q2_k). With
--group-size (32, 64, 128, 256) or --asym it picks tinyprof's group-wise format
of that width instead: a float16 scale (and with --asym a float16 minimum) per
group, in GGUF under type ids ggml does not know (model/GROUPWISE.md). Only
tinyprof's runtimes read those files; --type g2s64, g4a32, ... names them too.

A matrix whose rows are not whole blocks of the type falls back per tensor to
the nearest type that fits (q2_k -> q4_0, q4_k -> q5_0, else f16; a group-wise
type to a smaller group, else f32), shown per tensor. It fails, writing nothing,
if no matrix can take the type, or on NaN or infinite weights. Work is spread
over every CPU.

After writing, it measures the output against IN on the host reference runtime
(model/llama): next-token agreement (greedy, teacher-forced) and perplexity over
a fixed English text (--quality-text to use another), as the runtimes tokenize a
prompt (BOS, then one token per byte). Models the reference cannot run, or over
1 GiB, get the reason instead.`,
		Example: `  tiny-profiler quantize --bits 2 --group-size 64 model-f32.gguf model-g2s64.gguf
  tiny-profiler quantize --bits 4 --group-size 32 --asym model-f32.gguf model-g4a32.gguf
  tiny-profiler quantize --type q4_0 model-f32.gguf model-q4_0.gguf
  tiny-profiler quantize --bits 8 --llama2c --group-size 32 stories260K.bin stories260K-q80.bin`,
		Args: cobra.ExactArgs(2),
		RunE: func(c *cobra.Command, args []string) error {
			opts := model.QuantizeOptions{Llama2C: llama2c, GroupSize: group, Workers: workers}
			groupwise := !llama2c && bits != 0 && (group != 0 || asym)
			switch {
			case typ != "" && bits != 0:
				return usageError{fmt.Errorf("give --type or --bits, not both")}
			case llama2c && typ != "":
				return usageError{fmt.Errorf("--llama2c writes llama2.c's int8 format, which has no --type; drop --type, or drop --llama2c for a GGUF file")}
			case llama2c && bits != 0 && bits != 8:
				return usageError{fmt.Errorf("--bits %d with --llama2c: llama2.c's export is int8 only; use --bits 8, or drop --llama2c for a %d-bit GGUF file", bits, bits)}
			case asym && !groupwise:
				return usageError{fmt.Errorf("--asym is for the group-wise formats: give it with --bits 8|4|2 (and --group-size), without --llama2c or --type")}
			case groupwise:
				if group == 0 {
					group = 64
				}
				t, err := model.GroupwiseType(model.Groupwise{Bits: bits, Group: group, Asym: asym})
				if err != nil {
					return usageError{fmt.Errorf("--bits %d --group-size %d: %w", bits, group, err)}
				}
				opts.Type, opts.GroupSize = t, 0
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
				return usageError{fmt.Errorf("give --type (q8_0, q4_0, q4_1, q5_0, q5_1, q2_k, q4_k, or group-wise g2s64 …) or --bits 8|4|2 [--group-size N] [--asym]")}
			}
			if keepEmb {
				opts.Keep = model.KeepEmbeddings
			}
			text := []byte(fixtures.QualityText)
			if qualityText != "" {
				b, err := readBounded(qualityText, 1<<20)
				if err != nil {
					return usageError{fmt.Errorf("--quality-text: %w", err)}
				}
				text = b
			}
			prog := newProgress(c.ErrOrStderr())
			rep, err := model.Quantize(c.Context(), args[0], args[1], opts, func(done, total int64) {
				prog.update("quantizing", done, total, "bytes")
			})
			prog.done()
			if err != nil {
				return err
			}
			res := quantizeResult{Report: rep}
			if noQuality {
				res.QualitySkipped = "--no-quality"
			} else {
				res.Quality, res.QualitySkipped = measureQuality(c.Context(), args[0], args[1], rep, text)
			}
			if asJSON {
				return writeJSON(c.OutOrStdout(), res.json())
			}
			return res.print(c.OutOrStdout(), args[1])
		},
	}
	c.Flags().StringVar(&typ, "type", "", "type: q8_0, q4_0, q4_1, q5_0, q5_1, q2_k, q4_k, f16, bf16, or group-wise g<bits><s|a><group> (g2s64)")
	c.Flags().IntVar(&bits, "bits", 0, "8, 4 or 2: ggml's type of that width, or with --group-size/--asym the group-wise format")
	c.Flags().IntVar(&group, "group-size", 0, "with --bits: group-wise groups of 32, 64, 128 or 256; with --llama2c: its int8 group")
	c.Flags().BoolVar(&asym, "asym", false, "group-wise with a float16 minimum per group besides the scale (default: scale only)")
	c.Flags().BoolVar(&llama2c, "llama2c", false, "write llama2.c's int8 group-quantized export instead of GGUF")
	c.Flags().BoolVar(&keepEmb, "keep-embeddings", false, "keep token embedding and output tensors in source precision")
	c.Flags().BoolVar(&asJSON, "json", false, "print the per-tensor report and the quality as JSON")
	c.Flags().BoolVar(&noQuality, "no-quality", false, "skip the agreement and perplexity measurement")
	c.Flags().StringVar(&qualityText, "quality-text", "", "measure agreement and perplexity on this file (default: a built-in paragraph)")
	c.Flags().IntVar(&workers, "workers", 0, "goroutines converting at once (default: one per CPU); the output is the same for any value")
	return c
}

// readBounded reads the file at path, refusing one over limit bytes.
func readBounded(path string, limit int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("%s is over %d bytes; a few hundred tokens are enough", path, limit)
	}
	return b, nil
}

// measureQuality runs the source and the quantized model on the host
// reference over text, or says why it cannot.
func measureQuality(ctx context.Context, in, out string, rep *model.QuantizeReport, text []byte) (*llama.Quality, string) {
	if rep.FileBefore > qualityMaxBytes || rep.FileAfter > qualityMaxBytes {
		return nil, "the model is over 1 GiB; the host reference measures models for microcontrollers"
	}
	ref, err := llama.Open(in)
	if err != nil {
		return nil, "the host reference cannot run the source: " + err.Error()
	}
	q, err := llama.Open(out)
	if err != nil {
		return nil, "the host reference cannot run the output: " + err.Error()
	}
	res, err := llama.Compare(ctx, ref, q, text)
	if err != nil {
		return nil, err.Error()
	}
	return res, ""
}

// quantizeResult is what quantize reports.
type quantizeResult struct {
	Report         *model.QuantizeReport
	Quality        *llama.Quality
	QualitySkipped string
}

func (r quantizeResult) print(w io.Writer, out string) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "TENSOR\tFROM\tTO\tBYTES BEFORE\tBYTES AFTER\tRMSE\tMAX ABS\tREL")
	for _, t := range r.Report.Tensors {
		to := strings.ToLower(t.To.String())
		switch {
		case t.Kept != "":
			to = "kept (" + t.Kept + ")"
			if t.Fallback != "" {
				to += " (fallback: " + t.Fallback + ")"
			}
		case t.Fallback != "":
			to += " (fallback: " + t.Fallback + ")"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\t%.3g\t%.3g\t%.3g\n", t.Name, strings.ToLower(t.From.String()), to, t.BytesBefore, t.BytesAfter, t.RMSE, t.MaxAbs, t.Relative)
	}
	fmt.Fprintf(tw, "total\t\t\t%d\t%d\t\t\t\n", r.Report.BytesBefore, r.Report.BytesAfter)
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(w, "wrote %s: %s -> %s\n", out, kib(r.Report.FileBefore), kib(r.Report.FileAfter))
	if q := r.Quality; q != nil {
		fmt.Fprintf(w, "quality against the source on the host reference (%d next tokens, teacher-forced): next-token agreement %.1f%%, perplexity %.4g (source %.4g)\n",
			q.Positions, 100*q.Agreement, q.Perplexity, q.ReferencePerplexity)
	} else {
		fmt.Fprintf(w, "quality not measured: %s\n", r.QualitySkipped)
	}
	return nil
}

// Snake-case JSON shapes of the report, types by name.
type (
	quantizeJSON struct {
		Tensors        []tensorJSON   `json:"tensors"`
		BytesBefore    int64          `json:"bytes_before"`
		BytesAfter     int64          `json:"bytes_after"`
		FileBefore     int64          `json:"file_before"`
		FileAfter      int64          `json:"file_after"`
		Quality        *llama.Quality `json:"quality"`
		QualitySkipped string         `json:"quality_skipped,omitempty"`
	}
	tensorJSON struct {
		Name        string  `json:"name"`
		From        string  `json:"from"`
		To          string  `json:"to"`
		Elements    int64   `json:"elements"`
		BytesBefore int64   `json:"bytes_before"`
		BytesAfter  int64   `json:"bytes_after"`
		RMSE        float64 `json:"rmse"`
		MaxAbs      float64 `json:"max_abs"`
		Relative    float64 `json:"relative"`
		Kept        string  `json:"kept,omitempty"`
		Fallback    string  `json:"fallback,omitempty"`
	}
)

func (r quantizeResult) json() quantizeJSON {
	j := quantizeJSON{BytesBefore: r.Report.BytesBefore, BytesAfter: r.Report.BytesAfter, FileBefore: r.Report.FileBefore,
		FileAfter: r.Report.FileAfter, Quality: r.Quality, QualitySkipped: r.QualitySkipped, Tensors: []tensorJSON{}}
	for _, t := range r.Report.Tensors {
		j.Tensors = append(j.Tensors, tensorJSON{Name: t.Name, From: strings.ToLower(t.From.String()), To: strings.ToLower(t.To.String()),
			Elements: t.Elements, BytesBefore: t.BytesBefore, BytesAfter: t.BytesAfter, RMSE: t.RMSE, MaxAbs: t.MaxAbs,
			Relative: t.Relative, Kept: t.Kept, Fallback: t.Fallback})
	}
	return j
}
