package llama_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/tinyprof/tinyprof/fixtures"
	"github.com/tinyprof/tinyprof/model"
	"github.com/tinyprof/tinyprof/model/llama"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func open(tb testing.TB, name string) *llama.Model {
	tb.Helper()
	m, err := llama.Open(fixtures.Model(tb, name))
	require.NoError(tb, err)
	return m
}

// TestFormatsAgree checks that files holding the same float32 values give
// the same logits bit for bit (llama2.c legacy and version 1), and that
// each quantized file stays close to the float32 file of its writer. (The
// GGUF and llama2.c fixtures differ in a few outlier weights, which the
// fixture generator places per write chunk, so they are compared within
// their own format.)
func TestFormatsAgree(t *testing.T) {
	step := func(m *llama.Model) []float32 {
		r := m.NewRunner(8)
		var out []float32
		for pos, tok := range llama.PromptTokens([]byte("Hi"), m.Config().Vocab) {
			l, err := r.Forward(tok, pos)
			require.NoError(t, err)
			out = append(out[:0], l...)
		}
		return out
	}
	legacy := step(open(t, "stories260k.bin"))
	if diff := cmp.Diff(legacy, step(open(t, "stories260k-v1.bin"))); diff != "" {
		t.Errorf("version 1 logits differ from the legacy file's (-want +got):\n%s", diff)
	}
	gguf := step(open(t, "stories260k.gguf"))
	for _, tc := range []struct {
		name string
		want []float32
		tol  float64
	}{{"stories260k-q80.bin", legacy, 0.05}, {"stories260k-q8_0.gguf", gguf, 0.05}, {"stories260k-q4_0.gguf", gguf, 0.5}} {
		got := step(open(t, tc.name))
		require.Len(t, got, len(tc.want))
		var worst float64
		for i := range tc.want {
			worst = max(worst, float64(abs(tc.want[i]-got[i])))
		}
		t.Logf("%s: largest logit difference from float32 %.3g", tc.name, worst)
		assert.Less(t, worst, tc.tol, tc.name)
	}
}

func abs(x float32) float32 {
	if x < 0 {
		return -x
	}
	return x
}

func TestConfig(t *testing.T) {
	for _, name := range []string{"stories260k.bin", "stories260k-q80.bin", "stories260k-q4_0.gguf"} {
		c := open(t, name).Config()
		want := llama.Config{Dim: 64, Hidden: 172, Layers: 5, Heads: 8, KVHeads: 4, Vocab: 512, SeqLen: 512, HeadDim: 8,
			Eps: 1e-5, RopeBase: 10000, Shared: true}
		if name == "stories260k-q80.bin" {
			want.GroupSize = 64
		}
		if diff := cmp.Diff(want, c); diff != "" {
			t.Errorf("%s (-want +got):\n%s", name, diff)
		}
	}
}

func TestGenerateStopsAtFullContext(t *testing.T) {
	m := open(t, "stories260k-q8_0.gguf")
	tests := []struct {
		name            string
		ctx, max, wantN int
		prompt          string
	}{
		{"max tokens first", 16, 5, 5, "ab"},
		{"context first", 8, 100, 8 - 4 + 1, "abc"},
		{"prompt fills the context", 4, 10, 1, "abc"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			toks, err := m.Generate(t.Context(), []byte(tc.prompt), llama.Options{MaxTokens: tc.max, Context: tc.ctx})
			require.NoError(t, err)
			assert.Len(t, toks, tc.wantN)
		})
	}
	_, err := m.Generate(t.Context(), []byte("abcd"), llama.Options{MaxTokens: 1, Context: 4})
	assert.ErrorIs(t, err, llama.ErrArg)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	_, err = m.Generate(ctx, nil, llama.Options{MaxTokens: 4})
	assert.ErrorIs(t, err, context.Canceled)
}

func TestSampling(t *testing.T) {
	m := open(t, "stories260k.bin")
	gen := func(o llama.Options) []uint32 {
		o.MaxTokens = 24
		toks, err := m.Generate(t.Context(), []byte("x"), o)
		require.NoError(t, err)
		return toks
	}
	greedy := gen(llama.Options{})
	assert.Equal(t, greedy, gen(llama.Options{Temperature: 1, TopK: 1, Seed: 9}), "top-k 1 is greedy")
	a := gen(llama.Options{Temperature: 0.9, TopP: 0.9, Seed: 1})
	assert.Equal(t, a, gen(llama.Options{Temperature: 0.9, TopP: 0.9, Seed: 1}), "same seed, same tokens")
	assert.NotEqual(t, a, gen(llama.Options{Temperature: 0.9, TopP: 0.9, Seed: 2}), "another seed")
	assert.NotEqual(t, greedy, a)
}

func TestPromptTokens(t *testing.T) {
	assert.Equal(t, []uint32{1, 'a', 0, 255}, llama.PromptTokens([]byte{'a', 0, 255}, 512))
	assert.Equal(t, []uint32{1, 'a' % 50, 0, 255 % 50}, llama.PromptTokens([]byte{'a', 0, 255}, 50))
	assert.Equal(t, []uint32{0, 0}, llama.PromptTokens([]byte{7}, 1))
}

func TestRNG(t *testing.T) {
	// xorshift32 from state 0x9E3779B9 ^ 1 = 0x9E3779B8: the first outputs
	// by hand from the recurrence x ^= x<<13; x ^= x>>17; x ^= x<<5.
	x := uint32(0x9E3779B8)
	var want []uint32
	for range 4 {
		x ^= x << 13
		x ^= x >> 17
		x ^= x << 5
		want = append(want, x)
	}
	r := llama.NewRNG(1)
	var got []uint32
	for range 4 {
		got = append(got, r.Uint32())
	}
	assert.Equal(t, want, got)
	z := llama.NewRNG(0x9E3779B9) // would be the all-zero state
	assert.NotZero(t, z.Uint32())
	f := llama.NewRNG(5)
	for range 1000 {
		v := f.Float32()
		require.True(t, v >= 0 && v < 1, "%v", v)
	}
}

func TestLoadRejects(t *testing.T) {
	tests := []struct {
		name string
		data func() []byte
		want error
	}{
		{"empty", func() []byte { return nil }, model.ErrFormat},
		{"truncated llama2.c", func() []byte { return fixtures.Llama2C(fixtures.Stories260K, 1)[:1000] }, model.ErrFormat},
		{"not llama", func() []byte { return readFile(t, fixtures.Model(t, "alltypes.gguf")) }, llama.ErrUnsupported},
		{"Q5_0 tensors", func() []byte { return readFile(t, fixtures.Model(t, "stories260k-q5_0.gguf")) }, llama.ErrUnsupported},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := tc.data()
			_, err := llama.Load(bytes.NewReader(b), int64(len(b)))
			require.Error(t, err)
			assert.True(t, errors.Is(err, tc.want), "%v does not wrap %v", err, tc.want)
		})
	}
}

func readFile(tb testing.TB, path string) []byte {
	tb.Helper()
	b, err := os.ReadFile(path)
	require.NoError(tb, err)
	return b
}
