package llama_test

import (
	"context"
	"flag"
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
	// Rows that are not whole blocks stay F32, which the runtime reads,
	// rather than falling back to ggml's F16, which it does not.
	keep := func(name string, shape []int64) bool {
		return model.DefaultKeep(name, shape) || shape[0]%typ.BlockSize() != 0 && shape[0]%32 != 0
	}
	rep, err := model.Quantize(tb.Context(), src, out, model.QuantizeOptions{Type: typ, Keep: keep}, nil)
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

var qualityTable = flag.Bool("quality.table", false, "measure the README's quality table of the Stories260K fixture (about 10 s)")

// TestQualityTable measures Stories260K's fixture (random weights) in
// groups of 64 at 8, 4 and 2 bits, symmetric and asymmetric, beside
// G4S32 and ggml's Q8_0 and Q4_0 (the same 4.5 bits per weight), on fixtures.QualityText, as tiny-profiler
// quantize reports it, and logs the README's table. It checks that
// weight RMSE falls with every added bit and that 8 bits agree more
// often than 2.
func TestQualityTable(t *testing.T) {
	if !*qualityTable || raceEnabled {
		t.Skip("about 10 s of forward passes: run with -quality.table (not under the race detector)")
	}
	src := fixtures.Model(t, "stories260k.gguf")
	ref, err := llama.Open(src)
	require.NoError(t, err)
	var types []model.Type
	for _, asym := range []bool{false, true} {
		for _, bits := range []int{8, 4, 2} {
			typ, err := model.GroupwiseType(model.Groupwise{Bits: bits, Group: 64, Asym: asym})
			require.NoError(t, err)
			types = append(types, typ)
		}
	}
	g4s32, err := model.GroupwiseType(model.Groupwise{Bits: 4, Group: 32})
	require.NoError(t, err)
	types = append(types, g4s32, model.TypeQ8_0, model.TypeQ4_0)
	var table string
	var refPPL float64
	rmse := map[model.Type]float64{}
	agree := map[model.Type]float64{}
	for _, typ := range types {
		rep, m := quantized(t, src, typ)
		q, err := llama.Compare(t.Context(), ref, m, []byte(fixtures.QualityText))
		require.NoError(t, err)
		refPPL = q.ReferencePerplexity
		var se, n, mx float64
		var after, elems int64
		for _, tq := range rep.Tensors {
			if tq.To == typ {
				se += tq.RMSE * tq.RMSE * float64(tq.Elements)
				n += float64(tq.Elements)
				mx = max(mx, tq.MaxAbs)
				after += tq.BytesAfter
				elems += tq.Elements
			}
		}
		rmse[typ], agree[typ] = math.Sqrt(se/n), q.Agreement
		table += fmt.Sprintf("| %s | %.2f bits/weight | %.3g | %.3g | %.1f%% | %.1f |\n", typ, 8*float64(after)/float64(elems), rmse[typ], mx, 100*q.Agreement, q.Perplexity)
	}
	t.Logf("\n| format | matrices | weight RMSE | max abs error | next-token agreement | perplexity (f32 %.1f) |\n|---|---|---|---|---|---|\n%s", refPPL, table)
	for i := 0; i < 6; i += 3 {
		g8, g4, g2 := types[i], types[i+1], types[i+2]
		assert.Less(t, rmse[g8], rmse[g4])
		assert.Less(t, rmse[g4], rmse[g2])
		assert.Greater(t, agree[g8], agree[g2])
	}
}

// TestCompareRefuses checks Compare's errors: a cancelled context (and
// no goroutine left behind, which goleak checks), another vocabulary, and
// a text too short to score.
func TestCompareRefuses(t *testing.T) {
	tiny := open(t, "tiny.gguf")
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	_, err := llama.Compare(ctx, tiny, tiny, []byte(fixtures.QualityText))
	require.ErrorIs(t, err, context.Canceled)
	_, err = llama.Compare(t.Context(), tiny, open(t, "stories260k.gguf"), []byte("hi"))
	require.ErrorIs(t, err, llama.ErrArg)
	assert.ErrorContains(t, err, "vocabularies differ")
	_, err = llama.Compare(t.Context(), tiny, tiny, nil)
	require.ErrorIs(t, err, llama.ErrArg)
}
