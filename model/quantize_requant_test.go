package model_test

import (
	"bytes"
	"context"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tinyprof/tinyprof/fixtures"
	"github.com/tinyprof/tinyprof/model"
)

// decodable lists the types EncodeRow writes and DecodeRow reads: every
// source type Quantize converts rather than copies.
var decodable = []model.Type{
	model.TypeF32, model.TypeF16, model.TypeBF16, model.TypeQ8_0, model.TypeQ4_0, model.TypeQ4_1,
	model.TypeQ5_0, model.TypeQ5_1, model.TypeQ2_K, model.TypeQ4_K,
}

// testTensor is one tensor of a GGUF file written by writeTestGGUF.
type testTensor struct {
	name  string
	typ   model.Type
	shape []int64
	vals  []float32 // encoded as typ; nil with raw set
	raw   []byte
}

// writeTestGGUF writes a GGUF file with llama metadata and the tensors
// into a temporary directory and returns its path.
func writeTestGGUF(tb testing.TB, meta []model.MetaKV, tensors []testTensor) string {
	tb.Helper()
	var decl []model.GGUFTensor
	for _, t := range tensors {
		decl = append(decl, model.GGUFTensor{Name: t.name, Type: t.typ, Shape: t.shape})
	}
	if meta == nil {
		meta = []model.MetaKV{{Key: "general.architecture", Value: "llama"}}
	}
	var b bytes.Buffer
	gw, err := model.NewGGUFWriter(&b, meta, decl)
	require.NoError(tb, err)
	for _, t := range tensors {
		data := t.raw
		if data == nil {
			data, err = model.EncodeRow(nil, t.vals, t.typ)
			require.NoError(tb, err)
		}
		_, err = gw.Write(data)
		require.NoError(tb, err)
	}
	require.NoError(tb, gw.Close())
	path := filepath.Join(tb.TempDir(), "in.gguf")
	require.NoError(tb, os.WriteFile(path, b.Bytes(), 0o644))
	return path
}

// tensorData returns the bytes of the tensor called name in the GGUF file
// at path.
func tensorData(tb testing.TB, path, name string) (model.Tensor, []byte) {
	tb.Helper()
	info, err := model.Analyze(path)
	require.NoError(tb, err)
	tn, ok := info.Tensor(name)
	require.True(tb, ok, name)
	f, err := os.Open(path)
	require.NoError(tb, err)
	defer f.Close()
	data := make([]byte, tn.Bytes)
	_, err = f.ReadAt(data, tn.Offset)
	require.NoError(tb, err)
	return tn, data
}

// testValues returns n weights of magnitude about 0.1 with outliers.
func testValues(n int, seed int) []float32 {
	v := make([]float32, n)
	s := uint32(seed*2654435761 + 1)
	for i := range v {
		s = s*1664525 + 1013904223
		v[i] = (float32(s>>8)/(1<<24) - 0.5) * 0.2
		if i%101 == 0 {
			v[i] *= 6
		}
	}
	return v
}

// TestQuantizeFromEverySourceType re-quantizes a matrix of every decodable
// type to every target type and checks the bytes: a copy when the type is
// unchanged, otherwise exactly the target encoding of the decoded source.
// Before decoding was added, block-quantized sources failed with EOF.
func TestQuantizeFromEverySourceType(t *testing.T) {
	vals := testValues(256*4, 1)
	for _, from := range decodable {
		srcBytes, err := model.EncodeRow(nil, vals, from)
		require.NoError(t, err)
		in := writeTestGGUF(t, nil, []testTensor{
			{name: "blk.0.attn_norm.weight", typ: model.TypeF32, shape: []int64{256}, vals: testValues(256, 2)},
			{name: "blk.0.attn_q.weight", typ: from, shape: []int64{256, 4}, raw: srcBytes},
		})
		decoded, err := model.DecodeRow(nil, srcBytes, from)
		require.NoError(t, err)
		for _, to := range decodable {
			t.Run(from.String()+"/"+to.String(), func(t *testing.T) {
				out := filepath.Join(t.TempDir(), "out.gguf")
				rep, err := model.Quantize(t.Context(), in, out, model.QuantizeOptions{Type: to}, nil)
				require.NoError(t, err)
				want := srcBytes
				if to != from {
					want, err = model.EncodeRow(nil, decoded, to)
					require.NoError(t, err)
				}
				tn, got := tensorData(t, out, "blk.0.attn_q.weight")
				assert.Equal(t, to, tn.Type)
				assert.True(t, bytes.Equal(want, got), "tensor bytes differ from EncodeRow(DecodeRow(source))")
				q := rep.Tensors[1]
				assert.Equal(t, from, q.From)
				assert.Equal(t, to, q.To)
				if to == from {
					assert.Contains(t, q.Kept, "copied")
				} else {
					assert.Empty(t, q.Kept)
					assert.Less(t, q.Relative, 0.5)
				}
			})
		}
	}
}

// TestQuantizeCopiesUndecodableTypes re-quantizes a file holding one
// tensor of every ggml type: the types tinyprof decodes are converted, the
// others copied byte for byte with the reason in the report.
func TestQuantizeCopiesUndecodableTypes(t *testing.T) {
	in := fixtures.Model(t, "alltypes.gguf")
	out := filepath.Join(t.TempDir(), "out.gguf")
	rep, err := model.Quantize(t.Context(), in, out, model.QuantizeOptions{Type: model.TypeQ8_0}, nil)
	require.NoError(t, err)
	info, err := model.Analyze(out)
	require.NoError(t, err)
	for _, tq := range rep.Tensors {
		tn, ok := info.Tensor(tq.Name)
		require.True(t, ok)
		if model.Quantizable(tq.From) {
			assert.Equal(t, model.TypeQ8_0, tn.Type, tq.Name)
			continue
		}
		assert.Equal(t, tq.From, tn.Type, tq.Name)
		assert.Contains(t, tq.Kept, "cannot decode", tq.Name)
		_, want := tensorData(t, in, tq.Name)
		_, got := tensorData(t, out, tq.Name)
		assert.True(t, bytes.Equal(want, got), tq.Name)
	}
}

// TestQuantizeMixedFile re-quantizes a published-style file, whose
// matrices are F16, Q8_0, Q4_0 and Q4_K and whose norms are F32, to every
// type tinyprof writes, and reads the result back.
func TestQuantizeMixedFile(t *testing.T) {
	in := fixtures.Model(t, "mixed.gguf")
	src, err := model.Analyze(in)
	require.NoError(t, err)
	// Relative error against the decoded source, which is already
	// quantized: bounds for the target alone, with margin.
	maxRel := map[model.Type]float64{
		model.TypeF32: 0, model.TypeF16: 0.001, model.TypeBF16: 0.005, model.TypeQ8_0: 0.01,
		model.TypeQ5_0: 0.05, model.TypeQ5_1: 0.05, model.TypeQ4_0: 0.1, model.TypeQ4_1: 0.1,
		model.TypeQ4_K: 0.1, model.TypeQ2_K: 0.4,
	}
	types := decodable
	if model.RaceEnabled {
		types = []model.Type{model.TypeF16, model.TypeQ8_0, model.TypeQ4_K}
	}
	for _, to := range types {
		t.Run(to.String(), func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "out.gguf")
			rep, err := model.Quantize(t.Context(), in, out, model.QuantizeOptions{Type: to}, nil)
			require.NoError(t, err)
			info, err := model.Analyze(out)
			require.NoError(t, err)
			assert.Equal(t, src.Parameters, info.Parameters)
			assert.Equal(t, src.Layers, info.Layers)
			assert.Equal(t, rep.BytesAfter, info.WeightBytes)
			assert.Equal(t, model.FileType(to), info.Metadata["general.file_type"])
			for _, tq := range rep.Tensors {
				tn, ok := info.Tensor(tq.Name)
				require.True(t, ok, tq.Name)
				assert.Empty(t, tq.Fallback, tq.Name)
				if strings.HasSuffix(tq.Name, "norm.weight") {
					assert.Equal(t, model.TypeF32, tn.Type, tq.Name)
					continue
				}
				assert.Equal(t, to, tn.Type, tq.Name)
				assert.LessOrEqual(t, tq.Relative, maxRel[to], tq.Name)
			}
		})
	}
}

// TestQuantizeMixedFileToLlama2C exports the mixed file, quantized
// sources and all, to llama2.c's int8 format.
func TestQuantizeMixedFileToLlama2C(t *testing.T) {
	out := filepath.Join(t.TempDir(), "out.bin")
	_, err := model.Quantize(t.Context(), fixtures.Model(t, "mixed.gguf"), out, model.QuantizeOptions{Llama2C: true}, nil)
	require.NoError(t, err)
	info, err := model.Analyze(out)
	require.NoError(t, err)
	assert.Equal(t, 2, info.Version)
	assert.Equal(t, 64, info.GroupSize)
	assert.Equal(t, 256, info.Embedding)
}

// TestQuantizeFallsBack checks that a tensor whose rows are not whole
// blocks of the asked type gets the nearest type that fits, named in the
// report, and that asking for a type no tensor can take is an error that
// writes nothing. Before, such tensors stayed F32 silently and a file of
// nothing but F32 exited 0 labelled as quantized.
func TestQuantizeFallsBack(t *testing.T) {
	in := writeTestGGUF(t, nil, []testTensor{
		{name: "blk.0.attn_norm.weight", typ: model.TypeF32, shape: []int64{288}, vals: testValues(288, 1)},
		{name: "blk.0.attn_q.weight", typ: model.TypeF32, shape: []int64{288, 4}, vals: testValues(288*4, 2)},
		{name: "blk.0.ffn_down.weight", typ: model.TypeF32, shape: []int64{768, 4}, vals: testValues(768*4, 3)},
		{name: "blk.0.ffn_gate.weight", typ: model.TypeF32, shape: []int64{172, 4}, vals: testValues(172*4, 4)},
		{name: "blk.0.ffn_up.weight", typ: model.TypeF16, shape: []int64{172, 4}, vals: testValues(172*4, 5)},
	})
	type got struct {
		To       model.Type
		Fallback bool
	}
	tests := []struct {
		to   model.Type
		want []got
	}{
		{model.TypeQ2_K, []got{{model.TypeF32, false}, {model.TypeQ4_0, true}, {model.TypeQ2_K, false}, {model.TypeF16, true}, {model.TypeF16, true}}},
		{model.TypeQ4_K, []got{{model.TypeF32, false}, {model.TypeQ5_0, true}, {model.TypeQ4_K, false}, {model.TypeF16, true}, {model.TypeF16, true}}},
		{model.TypeQ4_0, []got{{model.TypeF32, false}, {model.TypeQ4_0, false}, {model.TypeQ4_0, false}, {model.TypeF16, true}, {model.TypeF16, true}}},
	}
	for _, tt := range tests {
		t.Run(tt.to.String(), func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "out.gguf")
			rep, err := model.Quantize(t.Context(), in, out, model.QuantizeOptions{Type: tt.to}, nil)
			require.NoError(t, err)
			info, err := model.Analyze(out)
			require.NoError(t, err)
			var g []got
			for _, tq := range rep.Tensors {
				tn, _ := info.Tensor(tq.Name)
				assert.Equal(t, tq.To, tn.Type)
				g = append(g, got{tq.To, tq.Fallback != ""})
				if tq.Fallback != "" {
					assert.Contains(t, tq.Fallback, "whole "+tt.to.String()+" blocks")
				}
			}
			if diff := cmp.Diff(tt.want, g); diff != "" {
				t.Errorf("tensor types (-want +got):\n%s", diff)
			}
		})
	}
}

func TestQuantizeRefusesWhatItCannotHonour(t *testing.T) {
	f32 := fixtures.Model(t, "stories260k.gguf")
	nan := testValues(256*2, 1)
	nan[300] = float32(math.NaN())
	withNaN := writeTestGGUF(t, nil, []testTensor{{name: "blk.0.attn_q.weight", typ: model.TypeF32, shape: []int64{256, 2}, vals: nan}})
	inf := testValues(256*2, 1)
	inf[7] = float32(math.Inf(-1))
	withInf := writeTestGGUF(t, nil, []testTensor{{name: "blk.0.attn_k.weight", typ: model.TypeF16, shape: []int64{256, 2}, vals: inf}})
	normInf := testValues(256, 1)
	normInf[5] = float32(math.Inf(1))
	withInfNorm := writeTestGGUF(t, nil, []testTensor{
		{name: "blk.0.attn_norm.weight", typ: model.TypeF32, shape: []int64{256}, vals: normInf},
		{name: "blk.0.attn_q.weight", typ: model.TypeF32, shape: []int64{256, 2}, vals: testValues(512, 2)},
	})
	huge := testValues(256*2, 1)
	huge[40] = 1e30 // finite, but its Q8_0 scale overflows float16
	withHuge := writeTestGGUF(t, nil, []testTensor{{name: "blk.0.attn_v.weight", typ: model.TypeF32, shape: []int64{256, 2}, vals: huge}})
	tests := []struct {
		name string
		in   string
		opts model.QuantizeOptions
		want string
	}{
		{"every matrix falls back", f32, model.QuantizeOptions{Type: model.TypeQ2_K}, "none of the 36 matrices can be stored as Q2_K"},
		{"every tensor kept", f32, model.QuantizeOptions{Type: model.TypeQ8_0, Keep: func(string, []int64) bool { return true }}, "no tensor can be quantized"},
		{"2 bits as llama2.c", f32, model.QuantizeOptions{Type: model.TypeQ2_K, Llama2C: true, GroupSize: 64}, "llama2.c export is int8 (8 bits) only"},
		{"NaN weight", withNaN, model.QuantizeOptions{Type: model.TypeQ4_0}, "tensor blk.0.attn_q.weight element 300 is NaN"},
		{"Inf weight", withInf, model.QuantizeOptions{Type: model.TypeQ8_0}, "tensor blk.0.attn_k.weight element 7 is -Inf"},
		{"Inf in a kept tensor", withInfNorm, model.QuantizeOptions{Type: model.TypeQ8_0}, "tensor blk.0.attn_norm.weight element 5 is +Inf"},
		{"overflowing scale", withHuge, model.QuantizeOptions{Type: model.TypeQ8_0}, "tensor blk.0.attn_v.weight element 40 (1e+30) does not survive conversion to Q8_0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "out")
			for _, workers := range []int{1, 2} {
				tt.opts.Workers = workers
				_, err := model.Quantize(t.Context(), tt.in, out, tt.opts, nil)
				require.Error(t, err)
				assert.Contains(t, err.Error(), tt.want)
				assert.NoFileExists(t, out)
				entries, err := os.ReadDir(filepath.Dir(out))
				require.NoError(t, err)
				assert.Empty(t, entries, "temporary files left behind")
			}
		})
	}
}

// TestQuantizeParallelMatchesSerial checks that the parallel pipeline
// writes the same bytes and reports the same figures as the single
// goroutine, for every target type and both output formats.
func TestQuantizeParallelMatchesSerial(t *testing.T) {
	type job struct {
		in   string
		opts model.QuantizeOptions
	}
	// The pipeline does not depend on the type; one of each kind of
	// encoder (per element, 32-blocks, 256-blocks) covers it.
	jobs := []job{
		{"mixed.gguf", model.QuantizeOptions{Type: model.TypeBF16}},
		{"mixed.gguf", model.QuantizeOptions{Type: model.TypeQ8_0}},
		{"mixed.gguf", model.QuantizeOptions{Type: model.TypeQ4_K}},
		{"stories260k.bin", model.QuantizeOptions{Llama2C: true, GroupSize: 32}},
		{"stories260k.gguf", model.QuantizeOptions{Type: model.TypeQ4_1}},
	}
	for _, j := range jobs {
		name := j.in + "/" + j.opts.Type.String()
		if j.opts.Llama2C {
			name = j.in + "/llama2c"
		}
		t.Run(name, func(t *testing.T) {
			in := fixtures.Model(t, j.in)
			dir := t.TempDir()
			var files [][]byte
			var reps []*model.QuantizeReport
			for _, workers := range []int{1, 2, 5} { // 5: more in flight than cores
				out := filepath.Join(dir, "out")
				j.opts.Workers = workers
				var last int64
				rep, err := model.Quantize(t.Context(), in, out, j.opts, func(done, total int64) {
					assert.Greater(t, done, last)
					last = done
				})
				require.NoError(t, err)
				data, err := os.ReadFile(out)
				require.NoError(t, err)
				files = append(files, data)
				reps = append(reps, rep)
			}
			for i := 1; i < len(files); i++ {
				assert.True(t, bytes.Equal(files[0], files[i]), "output with %d workers differs", i)
				if diff := cmp.Diff(reps[0], reps[i]); diff != "" {
					t.Errorf("report (-serial +parallel):\n%s", diff)
				}
			}
		})
	}
}

func TestQuantizeCancelled(t *testing.T) {
	in := fixtures.Model(t, "mixed.gguf")
	for _, workers := range []int{1, 2} {
		ctx, cancel := context.WithCancel(t.Context())
		out := filepath.Join(t.TempDir(), "out.gguf")
		calls := 0
		_, err := model.Quantize(ctx, in, out, model.QuantizeOptions{Type: model.TypeQ4_K, Workers: workers}, func(done, total int64) {
			if calls++; calls == 2 {
				cancel()
			}
		})
		require.ErrorIs(t, err, context.Canceled)
		assert.NoFileExists(t, out)
		cancel()
	}
}

// TestInfoJSONNonFinite checks that NaN and infinite metadata values,
// which encoding/json refuses, are written as strings.
func TestInfoJSONNonFinite(t *testing.T) {
	in := writeTestGGUF(t, []model.MetaKV{
		{Key: "general.architecture", Value: "llama"},
		{Key: "llama.attention.layer_norm_rms_epsilon", Value: float32(math.NaN())},
		{Key: "llama.rope.freq_base", Value: math.Inf(1)},
		{Key: "x.ok", Value: float32(0.5)},
	}, []testTensor{{name: "w", typ: model.TypeF32, shape: []int64{4}, vals: []float32{1, 2, 3, 4}}})
	info, err := model.Analyze(in)
	require.NoError(t, err)
	data, err := json.Marshal(info)
	require.NoError(t, err)
	assert.Contains(t, string(data), `"llama.attention.layer_norm_rms_epsilon":"NaN"`)
	assert.Contains(t, string(data), `"llama.rope.freq_base":"+Inf"`)
	assert.Contains(t, string(data), `"x.ok":0.5`)
	assert.True(t, math.IsNaN(float64(info.Metadata["llama.attention.layer_norm_rms_epsilon"].(float32))), "Info itself is unchanged")
}
