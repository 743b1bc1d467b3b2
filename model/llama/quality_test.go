package llama_test

import (
	"fmt"
	"math"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tinyprof/tinyprof/fixtures"
	"github.com/tinyprof/tinyprof/model"
	"github.com/tinyprof/tinyprof/model/llama"
)

// quantized quantizes the fixture src to typ and returns the report and
// the loaded model.
func quantized(tb testing.TB, src string, typ model.Type) (*model.QuantizeReport, *llama.Model) {
	tb.Helper()
	out := filepath.Join(tb.TempDir(), typ.String()+".gguf")
	rep, err := model.Quantize(tb.Context(), src, out, model.QuantizeOptions{Type: typ}, nil)
	require.NoError(tb, err)
	m, err := llama.Open(out)
	require.NoError(tb, err)
	return rep, m
}

// TestCompareQualityFollowsBits quantizes the Tiny fixture to the
// group-wise formats at 8, 4 and 2 bits and checks the direction of
// quality on the host reference: more bits give a lower weight RMSE, at
// least the next-token agreement (strictly more from 2 to 8 bits) and a
// perplexity closer to the float32 model's.
func TestCompareQualityFollowsBits(t *testing.T) {
	if raceEnabled {
		t.Skip("arithmetic only, about 40,000 forward passes: skipped under the race detector")
	}
	src := fixtures.Model(t, "tiny.gguf")
	ref, err := llama.Open(src)
	require.NoError(t, err)
	self, err := llama.Compare(t.Context(), ref, ref, []byte(fixtures.QualityText))
	require.NoError(t, err)
	assert.Equal(t, 1.0, self.Agreement, "a model agrees with itself")
	assert.Equal(t, self.ReferencePerplexity, self.Perplexity)
	assert.Equal(t, len(fixtures.QualityText), self.Positions)

	for _, gs := range []int{32, 64} {
		for _, asym := range []bool{false, true} {
			var rmse, agree, dppl []float64
			for _, bits := range []int{8, 4, 2} {
				typ, err := model.GroupwiseType(model.Groupwise{Bits: bits, Group: gs, Asym: asym})
				require.NoError(t, err)
				rep, m := quantized(t, src, typ)
				q, err := llama.Compare(t.Context(), ref, m, []byte(fixtures.QualityText))
				require.NoError(t, err)
				var se, n float64
				for _, tq := range rep.Tensors {
					se += tq.RMSE * tq.RMSE * float64(tq.Elements)
					n += float64(tq.Elements)
				}
				rmse = append(rmse, math.Sqrt(se/n))
				agree = append(agree, q.Agreement)
				dppl = append(dppl, abs64(q.Perplexity-q.ReferencePerplexity))
				t.Logf("%s: rmse %.3g agreement %.3f perplexity %.4g (f32 %.4g)", typ, rmse[len(rmse)-1], q.Agreement, q.Perplexity, q.ReferencePerplexity)
			}
			name := fmt.Sprintf("group %d asym %v", gs, asym)
			assert.Less(t, rmse[0], rmse[1], name)
			assert.Less(t, rmse[1], rmse[2], name)
			assert.GreaterOrEqual(t, agree[0], agree[1], name)
			assert.GreaterOrEqual(t, agree[1], agree[2], name)
			assert.Greater(t, agree[0], agree[2], name)
			assert.Less(t, dppl[0], dppl[2], name)
		}
	}
}

func abs64(x float64) float64 {
	if x < 0 {
		return -x
	}
	return x
}
