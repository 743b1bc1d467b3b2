package llama_test

import (
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/stretchr/testify/require"

	"github.com/tinyprof/tinyprof/fixtures"
	"github.com/tinyprof/tinyprof/model"
	"github.com/tinyprof/tinyprof/model/llama"
)

// TestGroupwiseRunsItsDecodedWeights checks the runtime's group-wise
// kernels against the format's reference decoder: a group-wise model
// gives, bit for bit, the logits of the float32 model that holds
// model.DecodeRow's values of its weights (written by model.Quantize to
// F32).
func TestGroupwiseRunsItsDecodedWeights(t *testing.T) {
	names := []string{"stories260k-g2a32.gguf", "tiny-g4s32.gguf", "stories260k-g2s64.gguf", "stories260k-g4a64.gguf", "stories260k-g8s32.gguf"}
	if raceEnabled {
		names = names[:2] // arithmetic only; each file is seconds under the race detector
	}
	for _, name := range names {
		t.Run(name, func(t *testing.T) {
			src := fixtures.Model(t, name)
			f32 := filepath.Join(t.TempDir(), "decoded.gguf")
			rep, err := model.Quantize(t.Context(), src, f32, model.QuantizeOptions{Type: model.TypeF32}, nil)
			require.NoError(t, err)
			var gw int
			for _, tq := range rep.Tensors {
				if _, ok := tq.From.Groupwise(); ok {
					gw++
				}
			}
			require.Positive(t, gw, "the fixture has group-wise tensors")
			q, err := llama.Open(src)
			require.NoError(t, err)
			ref, err := llama.Open(f32)
			require.NoError(t, err)
			opts := llama.Options{MaxTokens: 12, Step: nil}
			var want, got [][]float32
			opts.Step = func(l []float32) { want = append(want, append([]float32(nil), l...)) }
			wantToks, err := ref.Generate(t.Context(), []byte("Once"), opts)
			require.NoError(t, err)
			opts.Step = func(l []float32) { got = append(got, append([]float32(nil), l...)) }
			gotToks, err := q.Generate(t.Context(), []byte("Once"), opts)
			require.NoError(t, err)
			if d := cmp.Diff(wantToks, gotToks); d != "" {
				t.Errorf("tokens (-want +got):\n%s", d)
			}
			if d := cmp.Diff(want, got); d != "" {
				t.Errorf("logits (-want +got):\n%s", d)
			}
		})
	}
}
