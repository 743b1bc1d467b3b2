package model_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tinyprof/tinyprof/fixtures"
	"github.com/tinyprof/tinyprof/model"
)

// ggufHeader builds a GGUF v3 prefix by hand.
type ggufHeader struct{ bytes.Buffer }

func (h *ggufHeader) u32(v uint32) *ggufHeader {
	h.Write(binary.LittleEndian.AppendUint32(nil, v))
	return h
}
func (h *ggufHeader) u64(v uint64) *ggufHeader {
	h.Write(binary.LittleEndian.AppendUint64(nil, v))
	return h
}
func (h *ggufHeader) str(s string) *ggufHeader { h.u64(uint64(len(s))); h.WriteString(s); return h }
func newGGUF(tensors, kvs uint64) *ggufHeader {
	h := &ggufHeader{}
	h.WriteString("GGUF")
	return h.u32(3).u64(tensors).u64(kvs)
}

// tensorGGUF returns a one-tensor GGUF with the given dims and type.
func tensorGGUF(typ uint32, dims ...uint64) []byte {
	h := newGGUF(1, 0).str("t").u32(uint32(len(dims)))
	for _, d := range dims {
		h.u64(d)
	}
	h.u32(typ).u64(0)
	return h.Bytes()
}

func TestAnalyzeBadInput(t *testing.T) {
	good, err := os.ReadFile(fixtures.Model(t, "stories260k.gguf"))
	require.NoError(t, err)
	legacy := fixtures.Llama2C(fixtures.Stories260K, fixtures.Seed)

	tests := []struct {
		name string
		data []byte
		want string
		is   error
	}{
		{"empty", nil, "too short", model.ErrFormat},
		{"wrong magic", []byte("GGML\x03\x00\x00\x00"), "not GGUF", model.ErrFormat},
		{"gguf v1", newGGUF(0, 0).Bytes()[:4:4], "truncated", model.ErrFormat},
		{"version 1", append([]byte("GGUF"), 1, 0, 0, 0), "v1 is no longer supported", model.ErrFormat},
		{"version 4", append([]byte("GGUF"), 4, 0, 0, 0), "version 4", model.ErrFormat},
		{"big endian", append([]byte("GGUF"), 0, 0, 0, 3), "big-endian", model.ErrFormat},
		{"2^60 tensors in 32 bytes", newGGUF(1<<60, 0).u64(0).Bytes(), "tensor count is 1152921504606846976", model.ErrFormat},
		{"2^60 kvs", newGGUF(0, 1<<60).Bytes(), "metadata count", model.ErrFormat},
		{"70 GB key", append(newGGUF(0, 1).u64(70e9).Bytes(), make([]byte, 16)...), "claims 70000000000 bytes", model.ErrFormat},
		{"70 GB string value", newGGUF(0, 1).str("k").u32(8).u64(70e9).Bytes(), "claims 70000000000 bytes", model.ErrFormat},
		{"2^62 element array", newGGUF(0, 1).str("k").u32(9).u32(10).u64(1 << 62).Bytes(), "claims 4611686018427387904 elements", model.ErrFormat},
		{"2^61 strings", newGGUF(0, 1).str("k").u32(9).u32(8).u64(1 << 61).Bytes(), "cannot fit", model.ErrFormat},
		{"nested array", newGGUF(0, 1).str("k").u32(9).u32(9).u64(1).Bytes(), "nested", model.ErrFormat},
		{"bad value type", append(newGGUF(0, 1).str("k").u32(13).Bytes(), make([]byte, 16)...), "invalid value type 13", model.ErrFormat},
		{"duplicate key", newGGUF(0, 2).str("k").u32(0).Bytes(), "", model.ErrFormat},
		{"alignment not u32", newGGUF(0, 1).str("general.alignment").u32(10).u64(64).Bytes(), "must be a uint32", model.ErrFormat},
		{"alignment not power of 2", newGGUF(0, 1).str("general.alignment").u32(4).u32(48).Bytes(), "not a power of 2", model.ErrFormat},
		{"5 dims", tensorGGUF(0, 1, 1, 1, 1, 1), "at most 4", model.ErrFormat},
		{"element overflow", tensorGGUF(0, 1<<32, 1<<32), "more than 2^63 elements", model.ErrFormat},
		{"negative dim", tensorGGUF(0, 1<<63), "negative", model.ErrFormat},
		{"byte size overflow", tensorGGUF(0, 1<<61, 2), "overflows", model.ErrFormat},
		{"unknown type", tensorGGUF(43, 32), "newer than this reader", model.ErrUnknownType},
		{"huge unknown type", tensorGGUF(1<<31, 32), "newer than this reader", model.ErrUnknownType},
		{"removed type", tensorGGUF(31, 32), "was removed", model.ErrUnknownType},
		{"row not whole blocks", tensorGGUF(2, 33), "not a multiple of its block size 32", model.ErrFormat},
		{"data past end", tensorGGUF(0, 1024), "past the end", model.ErrFormat},
		{"truncated gguf", good[:len(good)/2], "truncated", model.ErrFormat},
		{"truncated header", good[:100], "left", model.ErrFormat},
		{"truncated llama2c", legacy[:len(legacy)-4], "needs a 1056540-byte file", model.ErrFormat},
		{"llama2c bad header", make([]byte, 64), "outside 1..", model.ErrFormat},
		{"llama2c bad version", append([]byte{0x32, 0x34, 0x6b, 0x61, 9}, make([]byte, 300)...), "export version 9", model.ErrFormat},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			start := time.Now()
			_, err := model.AnalyzeReader(bytes.NewReader(tt.data), int64(len(tt.data)))
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.want)
			assert.True(t, errors.Is(err, tt.is), "%v", err)
			assert.Less(t, time.Since(start), time.Second)
		})
	}
}

func TestAnalyzeAllTypes(t *testing.T) {
	for _, name := range []string{"alltypes.gguf", "alltypes-align64.gguf", "alltypes-align4096.gguf"} {
		t.Run(name, func(t *testing.T) {
			info, err := model.Analyze(fixtures.Model(t, name))
			require.NoError(t, err)
			var n int
			seen := map[int64]bool{}
			for id := range model.TypeCount {
				typ := model.Type(id)
				if !typ.Valid() {
					continue
				}
				n++
				seen[typ.BlockSize()] = true
				tn, ok := info.Tensor(strings.ToLower(typ.String()))
				require.True(t, ok, typ.String())
				assert.Equal(t, typ, tn.Type)
				assert.Equal(t, 512/typ.BlockSize()*typ.BlockBytes(), tn.Bytes, typ.String())
				assert.Zero(t, tn.Offset%int64(info.Alignment), "%s offset %d not aligned", typ, tn.Offset)
			}
			assert.Len(t, info.Tensors, n)
			assert.Equal(t, map[int64]bool{1: true, 32: true, 64: true, 128: true, 256: true}, seen)
		})
	}
}

func TestAnalyzeNonDefaultAlignment(t *testing.T) {
	info, err := model.Analyze(fixtures.Model(t, "stories260k-align256.gguf"))
	require.NoError(t, err)
	assert.Equal(t, 256, info.Alignment)
	assert.Zero(t, info.DataOffset%256)
	for _, tn := range info.Tensors {
		assert.Zero(t, tn.Offset%256, tn.Name)
	}
	assert.Equal(t, int64(260032), info.Parameters)
}

func TestAnalyzeQuantizedFixtures(t *testing.T) {
	for _, typ := range []model.Type{model.TypeF16, model.TypeBF16, model.TypeQ8_0, model.TypeQ4_0, model.TypeQ4_1, model.TypeQ5_0, model.TypeQ5_1, model.TypeIQ4_NL, model.TypeMXFP4} {
		t.Run(typ.String(), func(t *testing.T) {
			info, err := model.Analyze(fixtures.Model(t, "stories260k-"+strings.ToLower(typ.String())+".gguf"))
			require.NoError(t, err)
			q, ok := info.Tensor("blk.0.attn_q.weight")
			require.True(t, ok)
			assert.Equal(t, typ, q.Type)
			assert.Less(t, info.BitsPerWeight, 32.0)
		})
	}
}
