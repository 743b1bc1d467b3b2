package sim_test

import (
	"bytes"
	"os"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tinyprof/tinyprof/device"
	"github.com/tinyprof/tinyprof/device/sim"
	"github.com/tinyprof/tinyprof/firmware"
	"github.com/tinyprof/tinyprof/fixtures"
	"github.com/tinyprof/tinyprof/model"
	"github.com/tinyprof/tinyprof/model/llama"
)

func tokenIDs(ts []firmware.Token) []uint32 {
	out := make([]uint32, len(ts))
	for i, t := range ts {
		out[i] = t.ID
	}
	return out
}

// TestTokensComeFromTheModel checks that a simulated board's tokens are
// model/llama's for a model it runs, greedy and sampled (the protocol's
// permille over 1000), whatever the board's seed, in every format.
func TestTokensComeFromTheModel(t *testing.T) {
	for _, name := range []string{"tiny.bin", "tiny-q80.bin", "tiny.gguf", "tiny-q8_0.gguf", "tiny-q4_0.gguf"} {
		t.Run(name, func(t *testing.T) {
			path := fixtures.Model(t, name)
			data, err := os.ReadFile(path)
			require.NoError(t, err)
			m, err := llama.Open(path)
			require.NoError(t, err)
			for _, seed := range []uint64{1, 99} {
				d, _ := openPipe(t, sim.Options{Platform: "esp32s3", Seed: seed})
				_, err = d.LoadModel(t.Context(), bytes.NewReader(data), int64(len(data)), device.LoadOptions{})
				require.NoError(t, err)
				for _, tc := range []struct {
					req  device.GenerateRequest
					opts llama.Options
				}{
					{device.GenerateRequest{Prompt: "Once upon a time", MaxTokens: 30},
						llama.Options{MaxTokens: 30}},
					{device.GenerateRequest{Prompt: "hi", MaxTokens: 30, Seed: 5, Temperature: 0.7, TopP: 0.95, TopK: 20},
						llama.Options{MaxTokens: 30, Seed: 5, Temperature: float32(700) / 1000, TopP: float32(950) / 1000, TopK: 20}},
				} {
					want, err := m.Generate(t.Context(), []byte(tc.req.Prompt), tc.opts)
					require.NoError(t, err)
					g, err := d.Generate(t.Context(), tc.req)
					require.NoError(t, err)
					if diff := cmp.Diff(want, tokenIDs(g.Tokens)); diff != "" {
						t.Errorf("board seed %d, %+v: tokens differ from model/llama's (-reference +sim):\n%s", seed, tc.opts, diff)
					}
				}
			}
		})
	}
}

// TestTokensWithoutAForwardPass checks the fallback: a model the
// simulator can price but model/llama cannot run (here heads of 9 values,
// which RoPE cannot rotate in pairs) still generates, with ids from the
// board's seed.
func TestTokensWithoutAForwardPass(t *testing.T) {
	var buf bytes.Buffer
	odd := fixtures.Llama2CConfig{Llama2CConfig: model.Llama2CConfig{Dim: 36, HiddenDim: 64, Layers: 1, Heads: 4, KVHeads: 4, Vocab: 64, SeqLen: 32, Shared: true}}
	require.NoError(t, fixtures.WriteLlama2C(&buf, odd, 0, 1))
	data := buf.Bytes()
	_, err := llama.Load(bytes.NewReader(data), int64(len(data)))
	require.Error(t, err, "model/llama must refuse this model for the test to mean anything")
	gen := func(seed uint64) []uint32 {
		d, _ := openPipe(t, sim.Options{Platform: "esp32s3", Seed: seed})
		_, err := d.LoadModel(t.Context(), bytes.NewReader(data), int64(len(data)), device.LoadOptions{})
		require.NoError(t, err)
		g, err := d.Generate(t.Context(), device.GenerateRequest{Prompt: "x", MaxTokens: 20})
		require.NoError(t, err)
		require.Len(t, g.Tokens, 20)
		return tokenIDs(g.Tokens)
	}
	assert.Equal(t, gen(3), gen(3), "deterministic for a seed")
	assert.NotEqual(t, gen(3), gen(4), "the board's seed drives them")
}
