package cost_test

import (
	"encoding/json"
	"flag"
	"os"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tinyprof/tinyprof/device"
	"github.com/tinyprof/tinyprof/device/emu"
	"github.com/tinyprof/tinyprof/fixtures"
	"github.com/tinyprof/tinyprof/model"
	"github.com/tinyprof/tinyprof/platform/cost"
)

var derive = flag.Bool("cost.derive", false, "run the emulated boards and rewrite kernels.json (needs qemu-system-arm and arm-none-eabi-gcc; about a minute)")

// kernelFiles are the fixture files of each measured kernel, per shape.
var kernelFiles = []struct{ kernel, suffix string }{
	{"f32", ".gguf"}, {"int8", "-q80.bin"}, {"q8_0", "-q8_0.gguf"}, {"q4_0", "-q4_0.gguf"},
	// tinyprof's group-wise kernels (model/GROUPWISE.md), one per width;
	// the group size and kind change only the per-group work.
	{"g8", "-g8s32.gguf"}, {"g4", "-g4s32.gguf"}, {"g2", "-g2s32.gguf"},
}

// TestDeriveKernels with -cost.derive measures instructions per token of
// every kernel on two shapes on the emulated Cortex-M4F and rewrites
// kernels.json. Without the flag it checks that the committed file
// derives positive costs for every kernel the formats table names.
func TestDeriveKernels(t *testing.T) {
	if *derive {
		var runs []cost.Run
		for _, shape := range []string{"tiny", "stories260k"} {
			for _, k := range kernelFiles {
				runs = append(runs, measure(t, "mps2-an386", k.kernel, shape+k.suffix))
			}
		}
		out, err := json.MarshalIndent(cost.Runs{Command: "go test ./platform/cost -run TestDeriveKernels -cost.derive", Runs: runs}, "", "  ")
		require.NoError(t, err)
		require.NoError(t, os.WriteFile("kernels.json", append(out, '\n'), 0o644))
	}
	raw, err := os.ReadFile("kernels.json")
	require.NoError(t, err)
	var r cost.Runs
	require.NoError(t, json.Unmarshal(raw, &r))
	ks, err := cost.DeriveKernels(r.Runs)
	require.NoError(t, err)
	for _, f := range cost.Formats() {
		k, ok := ks[f.Kernel]
		require.True(t, ok, "format %s prices with kernel %s, which kernels.json does not measure", f.Name, f.Kernel)
		assert.Positive(t, k.InstrPerWeight)
	}
	// Each stored run is reproduced by its kernel's two coefficients.
	for _, run := range r.Runs {
		k := ks[run.Kernel]
		f32 := ks["f32"].InstrPerWeight * float64(run.F32Weights)
		got := k.InstrPerWeight*float64(run.Shape.MatmulWeights()-run.F32Weights) + f32 + k.InstrPerUnit*run.Shape.ActivationUnits(run.MeanPos)
		assert.InEpsilon(t, run.InstrPerToken, got, 1e-6, run.File)
	}
}

func TestDeriveKernelsRejectsOneShape(t *testing.T) {
	s := cost.Shape{Layers: 2, Dim: 32, Hidden: 64, Heads: 4, KVHeads: 2, HeadDim: 8, Vocab: 128}
	_, err := cost.DeriveKernels([]cost.Run{{Kernel: "f32", Shape: s, InstrPerToken: 1e5}})
	require.ErrorContains(t, err, "two different shapes")
	_, err = cost.DeriveKernels([]cost.Run{{Kernel: "f32", Shape: s, InstrPerToken: 1e5}, {Kernel: "f32", Shape: s, InstrPerToken: 1e5}})
	require.ErrorContains(t, err, "two different shapes")
}

// measure generates 64 greedy tokens of file on machine and returns the
// decode instructions per token.
func measure(t *testing.T, machine, kernel, file string) cost.Run {
	t.Helper()
	data, err := os.ReadFile(fixtures.Model(t, file))
	require.NoError(t, err)
	info, err := model.Analyze(fixtures.Model(t, file))
	require.NoError(t, err)
	board := emu.Start(t, emu.Options{Machine: machine, Seed: 1, Build: emu.BuildOptions{FlashModel: data}})
	p, err := board.Open(t.Context())
	require.NoError(t, err)
	d := device.New(p, device.Options{})
	t.Cleanup(func() { d.Close() })
	_, err = d.Hello(t.Context())
	require.NoError(t, err)
	const tokens = 64
	g, err := d.Generate(t.Context(), device.GenerateRequest{Prompt: "Once upon a time", MaxTokens: tokens})
	require.NoError(t, err)
	require.Len(t, g.Tokens, tokens)
	s := g.Summary
	f, err := cost.FormatOf(info)
	require.NoError(t, err)
	return cost.Run{Machine: machine, Kernel: kernel, File: file, Shape: cost.ShapeOf(info), F32Weights: cost.F32Weights(info, f),
		MeanPos:       float64(s.PromptTokens) + float64(tokens-1)/2,
		InstrPerToken: float64(s.DecodeUS) * 1000 / float64(tokens-1)}
}
