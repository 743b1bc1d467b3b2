package model_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tinyprof/tinyprof/fixtures"
	"github.com/tinyprof/tinyprof/model"
)

// TestQuantizeGroupwise quantizes the fixtures to group-wise formats and
// checks the per-tensor outcome (asked, smaller group, or kept F32), that
// Analyze reads the result with the sizes the report gives, that the
// output is the same for one worker and many, and that a request no
// matrix can take is refused without writing.
func TestQuantizeGroupwise(t *testing.T) {
	gw := func(bits, group int, asym bool) model.Type {
		typ, err := model.GroupwiseType(model.Groupwise{Bits: bits, Group: group, Asym: asym})
		require.NoError(t, err)
		return typ
	}
	tests := []struct {
		src  string
		want model.Type
		// how many matrices get the type asked, a smaller group, or stay F32
		asked, smaller, f32 int
		smallerType         model.Type
	}{
		{"stories260k.gguf", gw(2, 64, false), 31, 0, 5, 0},
		{"stories260k.bin", gw(4, 32, true), 31, 0, 5, 0},
		{"stories260k.gguf", gw(8, 128, false), 0, 0, 0, 0}, // refused: no row is 128 or more and whole
		{"tiny.gguf", gw(2, 64, true), 2, 13, 0, gw(2, 32, true)},
	}
	for _, tt := range tests {
		t.Run(tt.src+"/"+tt.want.String(), func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "out.gguf")
			rep, err := model.Quantize(t.Context(), fixtures.Model(t, tt.src), out, model.QuantizeOptions{Type: tt.want, Workers: 1}, nil)
			if tt.asked == 0 {
				require.ErrorContains(t, err, "can be stored as "+tt.want.String())
				assert.NoFileExists(t, out)
				return
			}
			require.NoError(t, err)
			var asked, smaller, f32 int
			for _, tq := range rep.Tensors {
				switch {
				case tq.Kept == "kept in source precision":
				case tq.To == tt.want:
					asked++
					assert.Empty(t, tq.Fallback, tq.Name)
					assert.Positive(t, tq.RMSE, tq.Name)
				case tq.To == model.TypeF32:
					f32++
					assert.Contains(t, tq.Fallback, "row of 172 is not whole groups", tq.Name)
				case tq.To == tt.smallerType:
					smaller++
					assert.Contains(t, tq.Fallback, "is not whole groups of", tq.Name)
				default:
					t.Errorf("%s: unexpected %s", tq.Name, tq.To)
				}
			}
			assert.Equal(t, []int{tt.asked, tt.smaller, tt.f32}, []int{asked, smaller, f32})
			info, err := model.Analyze(out)
			require.NoError(t, err)
			for _, tq := range rep.Tensors {
				got, ok := info.Tensor(tq.Name)
				require.True(t, ok, tq.Name)
				assert.Equal(t, tq.To, got.Type, tq.Name)
				assert.Equal(t, tq.BytesAfter, got.Bytes, tq.Name)
			}
			par := filepath.Join(t.TempDir(), "par.gguf")
			rep2, err := model.Quantize(t.Context(), fixtures.Model(t, tt.src), par, model.QuantizeOptions{Type: tt.want, Workers: 4}, nil)
			require.NoError(t, err)
			assert.Equal(t, rep.Tensors, rep2.Tensors)
			assert.Equal(t, readFile(t, out), readFile(t, par), "output independent of the worker count")
		})
	}
}

func readFile(tb testing.TB, path string) []byte {
	tb.Helper()
	b, err := os.ReadFile(path)
	require.NoError(tb, err)
	return b
}

func TestQuantizeGroupwiseGroupSizeMustAgree(t *testing.T) {
	typ, err := model.GroupwiseType(model.Groupwise{Bits: 2, Group: 64})
	require.NoError(t, err)
	out := filepath.Join(t.TempDir(), "out.gguf")
	_, err = model.Quantize(t.Context(), fixtures.Model(t, "stories260k.gguf"), out, model.QuantizeOptions{Type: typ, GroupSize: 32}, nil)
	require.ErrorContains(t, err, "group size 32 contradicts G2S64")
	assert.NoFileExists(t, out)
	_, err = model.Quantize(t.Context(), fixtures.Model(t, "stories260k.gguf"), out, model.QuantizeOptions{Type: typ, GroupSize: 64}, nil)
	require.NoError(t, err)
}
