package model

import (
	"encoding/binary"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The vectors in testdata/ggml_ref were produced by ggml's reference
// quantizers (quantize_row_*_ref and ggml_compute_fp32_to_fp16, transcribed
// from ggml-org/llama.cpp ggml/src/ggml-quants.c and ggml-impl.h into a C
// harness that is not part of this repository) compiled with
// gcc -O2 -ffp-contract=off, from input.f32: 1792 float32 values covering
// Gaussian weights, exact quantization ties, an all-zero block, a wide
// exponent range with subnormals, a positive-only block and a block whose
// largest magnitude is negative.
func TestEncodeRowMatchesGGMLReference(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join("testdata", "ggml_ref", "input.f32"))
	require.NoError(t, err)
	x := make([]float32, len(raw)/4)
	for i := range x {
		x[i] = math.Float32frombits(binary.LittleEndian.Uint32(raw[4*i:]))
	}
	for _, typ := range []Type{TypeQ4_0, TypeQ4_1, TypeQ5_0, TypeQ5_1, TypeQ8_0, TypeQ2_K, TypeQ4_K} {
		t.Run(typ.String(), func(t *testing.T) {
			want, err := os.ReadFile(filepath.Join("testdata", "ggml_ref", lower(typ.String())+".bin"))
			require.NoError(t, err)
			got, err := EncodeRow(nil, x, typ)
			require.NoError(t, err)
			require.Len(t, got, len(want))
			bb := int(typ.BlockBytes())
			for i := 0; i < len(want); i += bb {
				assert.Equal(t, want[i:i+bb], got[i:i+bb], "block %d", i/bb)
			}
		})
	}
}

func lower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}

func TestFP16(t *testing.T) {
	tests := []struct {
		in   float32
		want uint16
	}{
		{0, 0}, {float32(math.Copysign(0, -1)), 0x8000}, {1, 0x3C00}, {-2, 0xC000}, {65504, 0x7BFF},
		{65520, 0x7C00}, // rounds up to infinity
		{float32(math.Inf(1)), 0x7C00},
		{float32(math.NaN()), 0x7E00},
		{0x1p-24, 0x0001},       // smallest subnormal
		{0x1p-25, 0x0000},       // ties to even: 0
		{0x1.8p-24, 0x0002},     // 1.5 ulp ties to even: 2
		{1 + 0x1p-11, 0x3C00},   // halfway between 1 and next: even
		{1 + 0x1.8p-10, 0x3C02}, // 1.5 ulp: ties to even, up
		{0.1, 0x2E66},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, fp32ToFP16(tt.in), "%g", tt.in)
		if tt.in == tt.in && !math.IsInf(float64(tt.in), 0) && tt.in < 65504 {
			assert.InDelta(t, tt.in, fp16ToFP32(tt.want), float64(abs32(tt.in))*1e-3+1e-7)
		}
	}
	// Every half round-trips.
	for h := range 1 << 16 {
		f := fp16ToFP32(uint16(h))
		if f != f {
			continue
		}
		require.Equal(t, uint16(h), fp32ToFP16(f), "half %#04x", h)
	}
}
