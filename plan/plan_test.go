package plan_test

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tinyprof/tinyprof/device"
	"github.com/tinyprof/tinyprof/device/sim"
	"github.com/tinyprof/tinyprof/fixtures"
	"github.com/tinyprof/tinyprof/model"
	"github.com/tinyprof/tinyprof/plan"
	"github.com/tinyprof/tinyprof/platform"
)

func analyze(t *testing.T, data []byte) *model.Info {
	t.Helper()
	i, err := model.AnalyzeReader(bytes.NewReader(data), int64(len(data)))
	require.NoError(t, err)
	return i
}

func lookup(t *testing.T, name string) platform.Platform {
	t.Helper()
	p, err := platform.Lookup(name)
	require.NoError(t, err)
	return p
}

func TestOptimizeRanksFastestFirst(t *testing.T) {
	pl, err := plan.Optimize(analyze(t, fixtures.Llama2C(fixtures.Stories260K, fixtures.Seed)), lookup(t, "esp32s3"), plan.DefaultOptions())
	require.NoError(t, err)
	require.NotEmpty(t, pl.Ranked)
	assert.True(t, pl.Modelled)
	assert.True(t, slices.IsSortedFunc(pl.Ranked, func(a, b plan.Candidate) int {
		switch {
		case a.Prediction.TokPerSec > b.Prediction.TokPerSec:
			return -1
		case a.Prediction.TokPerSec < b.Prediction.TokPerSec:
			return 1
		}
		return 0
	}), "fastest first")
	for _, c := range pl.Ranked {
		assert.True(t, c.Fits, c.Config.String())
		assert.Empty(t, c.Rejected)
		assert.Less(t, c.Prediction.Low, c.Prediction.TokPerSec)
		assert.Positive(t, c.Prediction.TTFT)
		assert.True(t, c.HasEnergy, "the esp32s3 has a power model")
		assert.NotEmpty(t, c.Headroom)
	}
	require.NotEmpty(t, pl.Rejected)
	for _, c := range pl.Rejected {
		assert.NotEmpty(t, c.Rejected, c.Config.String())
	}
	// float32 in the 512 KiB SRAM would be fastest but does not fit: it
	// is the first rejection, and says so.
	assert.Equal(t, "f32", pl.Rejected[0].Format)
	assert.Equal(t, platform.SRAM, pl.Rejected[0].WeightsIn)
	assert.Contains(t, pl.Rejected[0].Rejected, "does not fit: model file")
	assert.Greater(t, pl.Rejected[0].Prediction.TokPerSec, pl.Ranked[0].Prediction.TokPerSec)
}

// TestStories15MOnESP32S3 is the circle: the plan says what runs,
// and that float32 does not.
func TestStories15MOnESP32S3(t *testing.T) {
	info := analyze(t, fixtures.Llama2C(fixtures.Stories15M, fixtures.Seed))
	opts := plan.DefaultOptions()
	opts.Formats = []string{"f32", "f16", "q8_0", "q4_0", "int8"}
	pl, err := plan.Optimize(info, lookup(t, "esp32s3"), opts)
	require.NoError(t, err)
	best, ok := pl.Best()
	require.True(t, ok)
	assert.NotEqual(t, "f32", best.Format)
	assert.Equal(t, platform.Flash, best.WeightsIn, "Q4_0's 9 MiB fits the 16 MiB flash, not the 8 MiB PSRAM beside the KV cache")
	for _, c := range pl.Ranked {
		assert.NotEqual(t, "f32", c.Format)
	}
	// With every format, 2 bits a weight fit the PSRAM beside the KV
	// cache, and PSRAM is read faster than flash.
	pl, err = plan.Optimize(info, lookup(t, "esp32s3"), plan.DefaultOptions())
	require.NoError(t, err)
	best, ok = pl.Best()
	require.True(t, ok)
	assert.Equal(t, platform.PSRAM, best.WeightsIn, best.Config.String())
	assert.True(t, strings.HasPrefix(best.Format, "g2"), best.Config.String())
}

func TestOptimizeOptions(t *testing.T) {
	info := analyze(t, fixtures.Llama2C(fixtures.Stories260K, fixtures.Seed))
	p := lookup(t, "esp32s3")

	pl, err := plan.Optimize(info, p, plan.Options{CPUMHz: 160, Context: 256})
	require.NoError(t, err)
	for _, c := range append(pl.Ranked, pl.Rejected...) {
		assert.NotEqual(t, platform.PSRAM, c.WeightsIn, "use_psram=False")
		assert.NotEqual(t, platform.PSRAM, c.KVIn, "use_psram=False")
		assert.Equal(t, 1, c.Cores, "use_dual_core=False")
		assert.Equal(t, 160, c.CPUMHz)
		assert.Equal(t, 256, c.Context)
	}

	fast, err := plan.Optimize(info, p, plan.Options{UsePSRAM: true, DualCore: true, Context: 256})
	require.NoError(t, err)
	best, _ := fast.Best()
	slow, _ := pl.Best()
	assert.Greater(t, best.Prediction.TokPerSec, slow.Prediction.TokPerSec, "two cores at 240 MHz beat one at 160")

	_, err = plan.Optimize(info, p, plan.Options{UsePSRAM: true, MinTokPerSec: 10 * best.Prediction.TokPerSec})
	require.ErrorIs(t, err, plan.ErrNothingFits)

	none, err := plan.Optimize(info, lookup(t, "stm32h7"), plan.Options{MaxMJPerToken: 1})
	require.ErrorIs(t, err, plan.ErrNothingFits)
	require.NotEmpty(t, none.Rejected)
	found := false
	for _, c := range none.Rejected {
		found = found || c.Rejected == "no power model for stm32h7, so no energy per token to hold to --max-mj-per-token"
	}
	assert.True(t, found, "a board without a power model says so")

	_, err = plan.Optimize(info, p, plan.Options{CPUMHz: 1000})
	require.ErrorContains(t, err, "runs at 1 to 240 MHz")
	_, err = plan.Optimize(info, lookup(t, "mps2-an386"), plan.DefaultOptions())
	require.ErrorContains(t, err, "benchmark --emulate")
	_, err = plan.Optimize(info, p, plan.Options{Formats: []string{"q9_9"}})
	require.ErrorContains(t, err, "unknown format")
}

// TestSimulatedBoardRunsThePlan: the simulated board and the planner use
// the same numbers, so a benchmark of the plan's configuration decodes
// at the plan's rate.
func TestSimulatedBoardRunsThePlan(t *testing.T) {
	data := fixtures.Llama2C(fixtures.Stories260K, fixtures.Seed)
	info := analyze(t, data)
	pl, err := plan.Optimize(info, lookup(t, "esp32s3"), plan.Options{UsePSRAM: true, DualCore: true, Formats: []string{"f32"}, CPUMHz: 240})
	require.NoError(t, err)
	var want plan.Candidate
	for _, c := range pl.Ranked {
		if c.WeightsIn == platform.PSRAM && c.Cores == 2 {
			want = c
			break
		}
	}
	require.NotZero(t, want.Prediction.TokPerSec)

	b := sim.Start(t, sim.Options{Platform: "esp32s3", WeightsIn: platform.PSRAM})
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	d, err := device.Open(ctx, b.Path, device.Options{})
	require.NoError(t, err)
	t.Cleanup(func() { d.Close() })
	_, err = d.LoadModel(ctx, bytes.NewReader(data), int64(len(data)), device.LoadOptions{Name: "stories260k.bin"})
	require.NoError(t, err)
	g, err := d.Generate(ctx, device.GenerateRequest{Prompt: "Once upon a time", MaxTokens: pl.Tokens})
	require.NoError(t, err)
	assert.InEpsilon(t, want.Prediction.TokPerSec, g.DecodeTokensPerSecond(), 0.02)
	assert.InEpsilon(t, want.Prediction.TTFT.Seconds(), (time.Duration(g.Summary.TTFTUS) * time.Microsecond).Seconds(), 0.02)
}

func TestApplyWritesTheFormat(t *testing.T) {
	dir := t.TempDir()
	// The legacy stories260K file carries RoPE tables that quantizing
	// drops; the plan must size the file without them.
	in := fixtures.Model(t, "stories260k.bin")
	info, err := model.Analyze(in)
	require.NoError(t, err)
	pl, err := plan.Optimize(info, lookup(t, "stm32h7"), plan.Options{Formats: []string{"q8_0", "int8"}, Context: 256})
	require.NoError(t, err)
	seen := map[string]bool{}
	for _, c := range pl.Ranked {
		if seen[c.Format] {
			continue
		}
		seen[c.Format] = true
		out := dir + "/" + c.Format + ".out"
		_, err := plan.Apply(t.Context(), in, c, out)
		require.NoError(t, err, c.Config.String())
		got, err := model.Analyze(out)
		require.NoError(t, err)
		assert.Equal(t, c.WeightBytes, got.WeightBytes, "the plan sized the file it writes: %s", c.Format)
		// model.Fit stores the file whole: the plan's size must not be
		// smaller than what is written, nor far above it.
		assert.GreaterOrEqual(t, c.FileBytes, got.FileSize, c.Format)
		assert.Less(t, c.FileBytes, got.FileSize+4096, c.Format)
	}
	_, err = plan.Apply(t.Context(), in, plan.Candidate{Config: plan.Config{Format: "q6_k"}}, dir+"/x")
	require.ErrorContains(t, err, "cannot write q6_k")

	assert.Len(t, seen, 2)
	f := plan.File{Platform: "stm32h7", Model: dir + "/q8_0.out", Config: pl.Ranked[0].Config, Tokens: 64}
	require.NoError(t, f.WriteFile(dir+"/p.json"))
	back, err := plan.ReadFile(dir + "/p.json")
	require.NoError(t, err)
	assert.Equal(t, f.Config, back.Config)
	bad := f
	bad.Cores = 4
	require.NoError(t, bad.WriteFile(dir+"/bad.json"))
	_, err = plan.ReadFile(dir + "/bad.json")
	require.ErrorContains(t, err, "do not fit stm32h7")
	_, err = plan.ReadFile(dir + "/missing.json")
	require.True(t, errors.Is(err, fs.ErrNotExist))
}

func TestSIMDNeverSlower(t *testing.T) {
	info := analyze(t, fixtures.Llama2C(fixtures.Stories260K, fixtures.Seed))
	p := lookup(t, "esp32s3")
	plain, err := plan.Optimize(info, p, plan.Options{UsePSRAM: true, DualCore: true, Formats: []string{"f32"}})
	require.NoError(t, err)
	simd, err := plan.Optimize(info, p, plan.Options{UsePSRAM: true, DualCore: true, Formats: []string{"f32"}, SIMD: true})
	require.NoError(t, err)
	a, _ := plain.Best()
	b, _ := simd.Best()
	assert.Equal(t, a.Config, b.Config)
	assert.Greater(t, b.Prediction.TokPerSec, a.Prediction.TokPerSec, "ESP-DSP speeds the compute share")
}
