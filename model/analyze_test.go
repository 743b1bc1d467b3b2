package model_test

import (
	"bytes"
	"errors"
	"os"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tinyprof/tinyprof/fixtures"
	"github.com/tinyprof/tinyprof/model"
)

// summary is the part of Info the simulated board and the CLI rely on.
type summary struct {
	Format                                                         string
	Version                                                        int
	Architecture                                                   string
	Layers, Embedding, FeedForward, Heads, KVHeads, Vocab, Context int
	Parameters, WeightBytes, FileSize                              int64
	Shared                                                         bool
	GroupSize, Alignment                                           int
}

func summarize(i *model.Info) summary {
	return summary{i.Format, i.Version, i.Architecture, i.Layers, i.Embedding, i.FeedForward, i.Heads, i.KVHeads, i.Vocab, i.Context,
		i.Parameters, i.WeightBytes, i.FileSize, i.SharedClassifier, i.GroupSize, i.Alignment}
}

// stories260KParams is 260,032: embedding 512×64, 5 layers of
// (4096+2048+2048+4096 attention + 3×11,008 FFN + 2×64 norms), final norm 64.
const stories260KParams = 260032

func TestAnalyzeFixtures(t *testing.T) {
	base := summary{Architecture: "llama", Layers: 5, Embedding: 64, FeedForward: 172, Heads: 8, KVHeads: 4, Vocab: 512, Context: 512,
		Parameters: stories260KParams, Shared: true}
	with := func(f func(*summary)) summary { s := base; f(&s); return s }
	// v2 int8: 15 norms of 64 floats stay float32; the rest is 1 byte per
	// weight plus a float32 scale per 64.
	q80Bytes := int64(11*64*4) + int64(stories260KParams-11*64)*(1) + int64(stories260KParams-11*64)/64*4
	tests := []struct {
		name string
		want summary
	}{
		{"stories260k.bin", with(func(s *summary) {
			s.Format, s.WeightBytes, s.FileSize = "llama2c", 4*stories260KParams, 1056540
		})},
		{"stories260k-v1.bin", with(func(s *summary) {
			s.Format, s.Version, s.WeightBytes, s.FileSize = "llama2c", 1, 4*stories260KParams, 256+4*stories260KParams
		})},
		{"stories260k-q80.bin", with(func(s *summary) {
			s.Format, s.Version, s.GroupSize, s.WeightBytes, s.FileSize = "llama2c", 2, 64, q80Bytes, 256+q80Bytes
		})},
		{"stories260k.gguf", with(func(s *summary) {
			s.Format, s.Version, s.Alignment, s.WeightBytes = "gguf", 3, 32, 4*stories260KParams
		})},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := fixtures.Model(t, tt.name)
			info, err := model.Analyze(path)
			require.NoError(t, err)
			got := summarize(info)
			if tt.want.FileSize == 0 {
				st, err := os.Stat(path)
				require.NoError(t, err)
				tt.want.FileSize = st.Size()
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Analyze(%s) mismatch (-want +got):\n%s", tt.name, diff)
			}
			assert.Equal(t, int64(640<<10), info.KVCacheBytes(512, 4), "KV cache at full context, float32")
		})
	}
}

func TestAnalyzeLlama2CInMemory(t *testing.T) {
	b := fixtures.Llama2C(fixtures.Stories260K, fixtures.Seed)
	info, err := model.AnalyzeReader(bytes.NewReader(b), int64(len(b)))
	require.NoError(t, err)
	assert.Equal(t, int64(stories260KParams), info.Parameters)
	assert.Equal(t, int64(len(b)), info.FileSize)
	assert.Len(t, b, 1056540)
	assert.InDelta(t, 32.0, info.BitsPerWeight, 1e-9)
}

func TestAnalyzeErrorsAreFormat(t *testing.T) {
	_, err := model.AnalyzeReader(bytes.NewReader([]byte("nope")), 4)
	require.Error(t, err)
	assert.True(t, errors.Is(err, model.ErrFormat), "%v", err)
}
