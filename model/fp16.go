package model

import "math"

// fp32ToFP16 converts f to IEEE half precision exactly as ggml's portable
// GGML_FP32_TO_FP16 does (ggml_compute_fp32_to_fp16 in
// ggml-org/llama.cpp ggml/src/ggml-impl.h, taken from Maratyszcza/FP16):
// round to nearest even, overflow to infinity, NaN to 0x7E00. The explicit
// float32 conversions stop Go from fusing the multiply and add, which would
// change the rounding.
func fp32ToFP16(f float32) uint16 {
	const (
		scaleToInf  = 0x1.0p+112
		scaleToZero = 0x1.0p-110
	)
	base := float32(float32(abs32(f)*scaleToInf) * scaleToZero)
	w := math.Float32bits(f)
	shl1w := w + w
	sign := w & 0x80000000
	bias := shl1w & 0xFF000000
	if bias < 0x71000000 {
		bias = 0x71000000
	}
	base = math.Float32frombits((bias>>1)+0x07800000) + base
	b := math.Float32bits(base)
	expBits := (b >> 13) & 0x00007C00
	mantissaBits := b & 0x00000FFF
	nonsign := expBits + mantissaBits
	if shl1w > 0xFF000000 {
		return uint16(sign>>16) | 0x7E00
	}
	return uint16(sign>>16) | uint16(nonsign)
}

// fp16ToFP32 converts an IEEE half to float32 exactly (GGML_FP16_TO_FP32).
func fp16ToFP32(h uint16) float32 {
	sign := uint32(h&0x8000) << 16
	exp := uint32(h>>10) & 0x1F
	mant := uint32(h & 0x3FF)
	switch {
	case exp == 0x1F:
		return math.Float32frombits(sign | 0x7F800000 | mant<<13)
	case exp != 0:
		return math.Float32frombits(sign | (exp+112)<<23 | mant<<13)
	case mant == 0:
		return math.Float32frombits(sign)
	}
	// Subnormal half: value is mant × 2^-24, exact in float32.
	v := float32(mant) * 0x1.0p-24
	if sign != 0 {
		v = -v
	}
	return v
}

// bf16ToFP32 converts a bfloat16 to float32 exactly.
func bf16ToFP32(h uint16) float32 { return math.Float32frombits(uint32(h) << 16) }

// fp32ToBF16 rounds f to bfloat16 the way ggml's ggml_compute_fp32_to_bf16
// does: round to nearest even, NaN made quiet.
func fp32ToBF16(f float32) uint16 {
	u := math.Float32bits(f)
	if u&0x7fffffff > 0x7f800000 {
		return uint16(u>>16) | 64
	}
	return uint16((u + (0x7fff + (u>>16)&1)) >> 16)
}

func abs32(f float32) float32 { return math.Float32frombits(math.Float32bits(f) &^ (1 << 31)) }
