package model_test

import (
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tinyprof/tinyprof/fixtures"
	"github.com/tinyprof/tinyprof/model"
)

// BenchmarkAnalyzeSparseGGUF analyses a 3.8 GB Llama-2-7B-shaped Q4_0 GGUF
// (291 tensors, 32,000-token vocabulary) whose data is a file hole. ggml's
// C reader takes ~20 ms for a 1.9 GB file with a 6.2 MB header on the
// reference machine.
func BenchmarkAnalyzeSparseGGUF(b *testing.B) {
	path := filepath.Join(b.TempDir(), "sparse.gguf")
	size, err := fixtures.WriteSparseGGUF(path, fixtures.Llama7BQ4)
	require.NoError(b, err)
	for b.Loop() {
		info, err := model.Analyze(path)
		if err != nil {
			b.Fatal(err)
		}
		if info.Layers != 32 {
			b.Fatal(info.Layers)
		}
	}
	b.ReportMetric(float64(size)/1e9, "file-GB")
}

func benchmarkEncode(b *testing.B, typ model.Type) {
	src := make([]float32, 1<<20)
	for i := range src {
		src[i] = float32((i*7919)%2001-1000) / 1000
	}
	dst := make([]byte, 0, len(src)/int(typ.BlockSize())*int(typ.BlockBytes()))
	b.SetBytes(int64(4 * len(src)))
	for b.Loop() {
		if _, err := model.EncodeRow(dst[:0], src, typ); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkEncodeRowQ8_0 and BenchmarkEncodeRowQ4_0 measure MB/s of
// float32 input, single-threaded, comparable to ggml's
// quantize_row_q8_0_ref (0.85–1.1 GB/s) and quantize_row_q4_0_ref
// (2.3–3.3 GB/s) on the reference machine.
func BenchmarkEncodeRowQ8_0(b *testing.B) { benchmarkEncode(b, model.TypeQ8_0) }
func BenchmarkEncodeRowQ4_0(b *testing.B) { benchmarkEncode(b, model.TypeQ4_0) }
func BenchmarkEncodeRowQ4_K(b *testing.B) { benchmarkEncode(b, model.TypeQ4_K) }

// BenchmarkQuantizeFile measures the whole streaming path (read, decode,
// encode, error report, write) on the stories260K float32 file.
func BenchmarkQuantizeFile(b *testing.B) {
	in := fixtures.Model(b, "stories260k.gguf")
	out := filepath.Join(b.TempDir(), "q.gguf")
	b.SetBytes(4 * 260032)
	for b.Loop() {
		if _, err := model.Quantize(b.Context(), in, out, model.QuantizeOptions{Type: model.TypeQ4_0}, nil); err != nil {
			b.Fatal(err)
		}
	}
}
