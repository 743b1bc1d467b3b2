package report_test

import (
	"bytes"
	"math"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tinyprof/tinyprof/bench/report"
	"github.com/tinyprof/tinyprof/device"
	"github.com/tinyprof/tinyprof/device/emu"
	"github.com/tinyprof/tinyprof/device/sim"
	"github.com/tinyprof/tinyprof/fixtures"
	"github.com/tinyprof/tinyprof/lab"
	"github.com/tinyprof/tinyprof/model"
)

// A profile of an emulated board carries its label, says which figures
// are exact, and counts instructions from the board's clock; every run
// lists its token ids.
func TestProfileEmulated(t *testing.T) {
	lab.NeedEmulation(t)
	b := emu.Start(t, emu.Options{Machine: "mps2-an386", Seed: 1})
	p, err := b.Open(t.Context())
	require.NoError(t, err)
	dev := device.New(p, device.Options{})
	t.Cleanup(func() { dev.Close() })
	_, err = dev.Hello(t.Context())
	require.NoError(t, err)
	data := fixtures.Llama2C(fixtures.Llama2CConfig{Llama2CConfig: model.Llama2CConfig{
		Dim: 16, HiddenDim: 48, Layers: 2, Heads: 2, KVHeads: 1, Vocab: 64, SeqLen: 64, Shared: true}}, fixtures.Seed)
	rep, err := report.Profile(t.Context(), dev, bytes.NewReader(data), int64(len(data)),
		report.Config{Runs: 2, Tokens: 8, Decode: func(ids []uint32) string { return "decoded" }})
	require.NoError(t, err)

	require.NotNil(t, rep.Emulation)
	assert.False(t, rep.Simulated)
	assert.Equal(t, b.Label(), rep.Emulation.Label)
	assert.Contains(t, rep.Emulation.Exact, "instructions per token")
	assert.Positive(t, rep.Emulation.InstrPerToken)
	for _, r := range rep.Runs {
		assert.Len(t, r.TokenIDs, 8)
		assert.Equal(t, "decoded", r.Text)
		assert.Equal(t, int64(math.Round(r.DecodeSeconds*1e9)), r.DecodeInstructions, "1 instruction = 1 ns of the board's clock")
		assert.InEpsilon(t, float64(r.DecodeInstructions)/7, r.InstrPerToken, 1e-9)
	}
	var out bytes.Buffer
	require.NoError(t, rep.WriteBench(&out))
	assert.Contains(t, out.String(), "\nemulated: QEMU mps2-an386, instruction-count time, not cycle-accurate\n")
	assert.Contains(t, out.String(), " instr/tok")
	out.Reset()
	require.NoError(t, rep.WriteTable(&out))
	assert.Contains(t, out.String(), "(exact; emulated)")
	assert.Contains(t, out.String(), "("+b.Label()+"; so is every figure below unless marked)\n")
	assert.Equal(t, 1, strings.Count(out.String(), b.Label()), "the label is said once, in the header")
}

func TestProfileRejectsBadSampling(t *testing.T) {
	b := sim.Start(t, sim.Options{Platform: "esp32s3"})
	dev, err := device.Open(t.Context(), b.Path, device.Options{})
	require.NoError(t, err)
	t.Cleanup(func() { dev.Close() })
	for _, tc := range []struct {
		cfg  report.Config
		want string
	}{
		{report.Config{Temperature: -0.1}, "temperature must be between 0 (greedy) and 2"},
		{report.Config{Temperature: math.Inf(1)}, "temperature must be between 0 (greedy) and 2"},
		{report.Config{Temperature: 1, TopP: 1.01}, "top-p must be between 0 (off) and 1"},
		{report.Config{TopP: math.NaN()}, "top-p must be between 0 (off) and 1"},
	} {
		_, err := report.Profile(t.Context(), dev, bytes.NewReader([]byte("x")), 1, tc.cfg)
		assert.ErrorContains(t, err, tc.want)
	}
}
