package model

import (
	"encoding/binary"
	"math"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestDecodeRowKnownBlocks decodes hand-made blocks whose values follow
// from the layouts in ggml-common.h.
func TestDecodeRowKnownBlocks(t *testing.T) {
	le := binary.LittleEndian
	q8 := make([]byte, 34)
	le.PutUint16(q8, 0x3800) // d = 0.5
	want8 := make([]float32, 32)
	for j := range 32 {
		q8[2+j] = byte(int8(j*8 - 128))
		want8[j] = float32(j*8-128) * 0.5
	}
	q4 := make([]byte, 18)
	le.PutUint16(q4, 0x3C00) // d = 1
	want4 := make([]float32, 32)
	for j := range 16 {
		q4[2+j] = byte(j) | byte(15-j)<<4
		want4[j], want4[16+j] = float32(j-8), float32(7-j)
	}
	tests := []struct {
		typ  Type
		src  []byte
		want []float32
	}{
		{TypeF32, le.AppendUint32(le.AppendUint32(nil, math.Float32bits(1.5)), math.Float32bits(-2)), []float32{1.5, -2}},
		{TypeF16, []byte{0x00, 0x3C, 0x00, 0xC0, 0x01, 0x00}, []float32{1, -2, 0x1p-24}},
		{TypeBF16, []byte{0x80, 0x3F, 0x40, 0xC0}, []float32{1, -3}},
		{TypeQ8_0, q8, want8},
		{TypeQ4_0, q4, want4},
	}
	for _, tt := range tests {
		got, err := DecodeRow([]float32{42}, tt.src, tt.typ)
		require.NoError(t, err)
		if diff := cmp.Diff(append([]float32{42}, tt.want...), got); diff != "" {
			t.Errorf("%s (-want +got):\n%s", tt.typ, diff)
		}
	}
}

// TestDecodeRowInvertsEncodeRow checks that decoding an encoding returns
// values within each type's step of the source.
func TestDecodeRowInvertsEncodeRow(t *testing.T) {
	x := buildInput(4096)
	tol := map[Type]float64{TypeF32: 0, TypeF16: 1e-3, TypeBF16: 8e-3, TypeQ8_0: 0.01, TypeQ5_0: 0.05, TypeQ5_1: 0.05,
		TypeQ4_0: 0.1, TypeQ4_1: 0.1, TypeQ4_K: 0.1, TypeQ2_K: 0.45}
	for typ, maxRel := range tol {
		enc, err := EncodeRow(nil, x, typ)
		require.NoError(t, err)
		got, err := DecodeRow(nil, enc, typ)
		require.NoError(t, err)
		require.Len(t, got, len(x))
		var se, ss float64
		for i, v := range x {
			e := float64(v) - float64(got[i])
			se += e * e
			ss += float64(v) * float64(v)
		}
		assert.LessOrEqual(t, math.Sqrt(se/ss), maxRel, typ.String())
	}
}
