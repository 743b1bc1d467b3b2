package model_test

import (
	"fmt"
	"path/filepath"
	"runtime"
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

// BenchmarkEncodeRowGroupwise measures the group-wise encoder at every
// width, groups of 64, beside Q4_0 in the same run.
func BenchmarkEncodeRowGroupwise(b *testing.B) {
	b.Run("Q4_0", func(b *testing.B) { benchmarkEncode(b, model.TypeQ4_0) })
	for _, bits := range []int{8, 4, 2} {
		for _, asym := range []bool{false, true} {
			typ, err := model.GroupwiseType(model.Groupwise{Bits: bits, Group: 64, Asym: asym})
			require.NoError(b, err)
			b.Run(typ.String(), func(b *testing.B) { benchmarkEncode(b, typ) })
		}
	}
}

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

// quantizeBenchInput writes an F32 GGUF of eight 1024×128 matrices and
// their norms (4 MiB of weights, every row a whole K-quant block) and
// returns its path.
func quantizeBenchInput(b *testing.B) string {
	b.Helper()
	var tensors []testTensor
	for i := range 8 {
		tensors = append(tensors,
			testTensor{name: fmt.Sprintf("blk.%d.attn_norm.weight", i), typ: model.TypeF32, shape: []int64{1024}, vals: testValues(1024, 2*i)},
			testTensor{name: fmt.Sprintf("blk.%d.ffn_up.weight", i), typ: model.TypeF32, shape: []int64{1024, 128}, vals: testValues(1024*128, 2*i+1)})
	}
	return writeTestGGUF(b, nil, tensors)
}

// BenchmarkQuantizeWorkers runs the whole streaming path (read, decode,
// encode, error report, write, fsync) on a 4 MiB F32 file, single-threaded
// (workers=1) and on every CPU (workers=N), for every type, in one
// process. Compare with
//
//	go test -run '^$' -bench QuantizeWorkers -count 6 ./model/ > q.txt
//	go run golang.org/x/perf/cmd/benchstat@v0.0.0-20260908200009-22c9c6c9d4da -col /workers q.txt
func BenchmarkQuantizeWorkers(b *testing.B) {
	in := quantizeBenchInput(b)
	out := filepath.Join(b.TempDir(), "q.gguf")
	n := runtime.GOMAXPROCS(0)
	for _, typ := range []model.Type{model.TypeF16, model.TypeQ8_0, model.TypeQ4_0, model.TypeQ4_1, model.TypeQ5_0, model.TypeQ5_1, model.TypeQ2_K, model.TypeQ4_K} {
		for _, w := range []int{1, n} {
			name := fmt.Sprintf("type=%s/workers=%d", typ, w)
			if w == n {
				name = fmt.Sprintf("type=%s/workers=N", typ)
			}
			b.Run(name, func(b *testing.B) {
				b.SetBytes(4 << 20)
				b.ReportMetric(float64(w), "workers")
				for b.Loop() {
					if _, err := model.Quantize(b.Context(), in, out, model.QuantizeOptions{Type: typ, Workers: w}, nil); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// BenchmarkAnalyzeLargeVocabGGUF analyses a 2 GB sparse GGUF with a
// 151,936-token vocabulary and 151,387 merges (fixtures.Qwen3BQ4), the
// header shape where ggml's C reader took about 25 ms in process on the
// reference machine.
func BenchmarkAnalyzeLargeVocabGGUF(b *testing.B) {
	path := filepath.Join(b.TempDir(), "sparse.gguf")
	size, err := fixtures.WriteSparseGGUF(path, fixtures.Qwen3BQ4)
	require.NoError(b, err)
	for b.Loop() {
		info, err := model.Analyze(path)
		if err != nil {
			b.Fatal(err)
		}
		if info.Vocab != 151936 {
			b.Fatal(info.Vocab)
		}
	}
	b.ReportMetric(float64(size)/1e9, "file-GB")
}
