package model_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tinyprof/tinyprof/fixtures"
	"github.com/tinyprof/tinyprof/model"
)

func TestQuantizeGGUF(t *testing.T) {
	// Relative RMSE bounds for uniform weights: about step/sqrt(12) over
	// the RMS of the block, with margin.
	tests := []struct {
		typ                 model.Type
		maxRel              float64
		quantized, fellBack int
	}{
		// Every matrix but ffn_down, whose row of 172 is not whole blocks
		// and falls back to F16.
		{model.TypeQ8_0, 0.01, 31, 5},
		{model.TypeQ5_0, 0.05, 31, 5},
		{model.TypeQ5_1, 0.04, 31, 5},
		{model.TypeQ4_0, 0.10, 31, 5},
		{model.TypeQ4_1, 0.08, 31, 5},
		{model.TypeF16, 0.001, 36, 0},
	}
	for _, src := range []string{"stories260k.gguf", "stories260k.bin", "stories260k-align256.gguf"} {
		for _, tt := range tests {
			t.Run(src+"/"+tt.typ.String(), func(t *testing.T) {
				out := filepath.Join(t.TempDir(), "out.gguf")
				var calls int
				rep, err := model.Quantize(t.Context(), fixtures.Model(t, src), out, model.QuantizeOptions{Type: tt.typ}, func(done, total int64) {
					calls++
					assert.LessOrEqual(t, done, total)
				})
				require.NoError(t, err)
				assert.Positive(t, calls)
				info, err := model.Analyze(out)
				require.NoError(t, err)
				assert.Equal(t, int64(260032), info.Parameters)
				assert.Equal(t, 5, info.Layers)
				assert.Equal(t, 4, info.KVHeads)
				assert.Less(t, rep.BytesAfter, rep.BytesBefore)
				assert.Equal(t, rep.BytesAfter, info.WeightBytes)
				var quantized, fellBack int
				for _, tq := range rep.Tensors {
					tn, ok := info.Tensor(tq.Name)
					require.True(t, ok, tq.Name)
					assert.Equal(t, tq.To, tn.Type, tq.Name)
					switch {
					case tq.Kept != "":
					case tq.Fallback != "":
						fellBack++
						assert.Equal(t, model.TypeF16, tq.To, tq.Name)
						assert.Contains(t, tq.Fallback, "row of 172", tq.Name)
					default:
						quantized++
						assert.Equal(t, tt.typ, tq.To, tq.Name)
						assert.Less(t, tq.Relative, tt.maxRel, tq.Name)
						assert.Positive(t, tq.RMSE, tq.Name)
					}
				}
				assert.Equal(t, tt.quantized, quantized)
				assert.Equal(t, tt.fellBack, fellBack)
				if src == "stories260k-align256.gguf" {
					assert.Equal(t, 256, info.Alignment, "alignment preserved")
				}
			})
		}
	}
}

func TestQuantizeLlama2C(t *testing.T) {
	out := filepath.Join(t.TempDir(), "q80.bin")
	rep, err := model.Quantize(context.Background(), fixtures.Model(t, "stories260k.bin"), out, model.QuantizeOptions{Llama2C: true, GroupSize: 32}, nil)
	require.NoError(t, err)
	info, err := model.Analyze(out)
	require.NoError(t, err)
	assert.Equal(t, 2, info.Version)
	assert.Equal(t, 32, info.GroupSize)
	assert.Equal(t, rep.FileAfter, info.FileSize)
	for _, tq := range rep.Tensors {
		if tq.To == model.TypeI8 {
			assert.Less(t, tq.Relative, 0.02, tq.Name)
		}
	}
}

func TestQuantizeGroupSizeErrors(t *testing.T) {
	in := fixtures.Model(t, "stories260k.bin")
	out := filepath.Join(t.TempDir(), "x")
	tests := []struct {
		opts model.QuantizeOptions
		want string
	}{
		{model.QuantizeOptions{Type: model.TypeQ4_0, GroupSize: 64}, "allowed group sizes are [32]"},
		{model.QuantizeOptions{Type: model.TypeQ4_K, GroupSize: 32}, "allowed group sizes are [256]"},
		{model.QuantizeOptions{Llama2C: true, GroupSize: 48}, "allowed group sizes are [1 2 4 8 16 32 64]"},
		{model.QuantizeOptions{Type: model.TypeIQ2_XXS}, "cannot quantize to IQ2_XXS"},
	}
	for _, tt := range tests {
		_, err := model.Quantize(t.Context(), in, out, tt.opts, nil)
		require.Error(t, err)
		assert.Contains(t, err.Error(), tt.want)
	}
}
