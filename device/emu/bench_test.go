package emu_test

import (
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/tinyprof/tinyprof/device"
	"github.com/tinyprof/tinyprof/device/emu"
	"github.com/tinyprof/tinyprof/fixtures"
)

// flashBoard starts machine with the fixture model name linked into its
// code memory, so a benchmark need not upload it, and says HELLO.
func flashBoard(b *testing.B, machine, name string) (*emu.Board, *device.Device) {
	b.Helper()
	board := emu.Start(b, emu.Options{Machine: machine, Seed: 1, Build: emu.BuildOptions{FlashModel: readModelB(b, name)}})
	p, err := board.Open(b.Context())
	require.NoError(b, err)
	d := device.New(p, device.Options{})
	b.Cleanup(func() { d.Close() })
	_, err = d.Hello(b.Context())
	require.NoError(b, err)
	return board, d
}

// BenchmarkTokens generates 64 greedy tokens of Stories260K, in every
// format, on the emulated Cortex-M4F and Cortex-M7, and reports what the
// board's clock says: under -icount shift=0 one microsecond is 1000 guest
// instructions, so instr/tok is exact and the same in every run (emulated,
// not cycle-accurate). ns/op and wall-ns/tok are host time.
func BenchmarkTokens(b *testing.B) {
	const tokens = 64
	for _, machine := range []string{"mps2-an386", "mps2-an500"} {
		for _, name := range append(formats("stories260k"), "stories260k-g2s64.gguf") {
			b.Run(machine+"/"+name, func(b *testing.B) {
				_, d := flashBoard(b, machine, name)
				req := device.GenerateRequest{Prompt: "Once upon a time", MaxTokens: tokens}
				var g *device.Generation
				b.ResetTimer()
				for range b.N {
					var err error
					g, err = d.Generate(b.Context(), req)
					require.NoError(b, err)
					require.Len(b, g.Tokens, tokens)
				}
				b.StopTimer()
				s := g.Summary
				b.ReportMetric(float64(s.DecodeUS)*1000/float64(tokens-1), "instr/tok")
				b.ReportMetric(float64(s.PrefillUS)*1000/float64(s.PromptTokens), "prefill-instr/tok")
				b.ReportMetric(float64(s.PeakHeap), "peak-arena-B")
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*tokens), "wall-ns/tok")
			})
		}
	}
}

// BenchmarkSampling measures what reading the board's memory during a
// generation (GenerateRequest.SampleEvery at the default 100 ms) costs the
// board: the same 300 greedy tokens with and without the reads run the
// same forward passes, so the difference in decode instructions is the
// reads' (receiving GET_METRICS, answering METRICS), reported per read
// and per token.
func BenchmarkSampling(b *testing.B) {
	const tokens = 300
	_, d := flashBoard(b, "mps2-an386", "stories260k-q4_0.gguf")
	req := device.GenerateRequest{Prompt: "Once upon a time", MaxTokens: tokens}
	plain, err := d.Generate(b.Context(), req)
	require.NoError(b, err)
	req.SampleEvery = 100 * time.Millisecond
	var extra, reads float64
	b.ResetTimer()
	for range b.N {
		g, err := d.Generate(b.Context(), req)
		require.NoError(b, err)
		require.Equal(b, ids(plain.Tokens), ids(g.Tokens))
		extra += float64(g.Summary.DecodeUS) - float64(plain.Summary.DecodeUS)
		reads += float64(len(g.Samples))
	}
	b.StopTimer()
	perTok := float64(plain.Summary.DecodeUS) * 1000 / (tokens - 1)
	b.ReportMetric(perTok, "instr/tok")
	b.ReportMetric(reads/float64(b.N), "reads/op")
	if reads > 0 {
		b.ReportMetric(extra*1000/reads, "instr/read")
	}
	b.ReportMetric(extra*1000/float64(b.N*(tokens-1)), "read-instr/tok")
	b.ReportMetric(100*extra*1000/float64(b.N*(tokens-1))/perTok, "read-%-of-tok")
}

// readModelB is readModel for a benchmark.
func readModelB(b *testing.B, name string) []byte {
	b.Helper()
	data, err := os.ReadFile(fixtures.Model(b, name))
	require.NoError(b, err)
	return data
}
