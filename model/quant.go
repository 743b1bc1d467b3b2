package model

import (
	"encoding/binary"
	"fmt"
	"math"
	"slices"
)

// The block quantizers in this file are ports of ggml's reference
// quantizers, quantize_row_{q4_0,q4_1,q5_0,q5_1,q8_0}_ref in
// ggml-org/llama.cpp ggml/src/ggml-quants.c, and produce the same bytes:
// the same float32 operations in the same order, C's truncating (int8_t)
// casts, roundf (half away from zero) for Q8_0, and ggml's float16
// rounding (fp32ToFP16). Block layouts are the structs of
// ggml/src/ggml-common.h.
//
// Every product that meets an addition or subtraction, here or inside an
// inlined helper (roundi, nearestInt), is wrapped in an explicit float32
// conversion. The Go spec lets a compiler fuse x*y+z into one
// multiply-add with a single rounding, and arm64 (and amd64 with
// GOAMD64=v3) does; ggml's reference rounds the product first, and an
// explicit conversion is the one thing that forbids the fusion. The bytes
// then do not depend on the build (TestEncodeRowSameOnEveryBuild).

// Quantizable reports whether EncodeRow can produce type t.
func Quantizable(t Type) bool {
	switch t {
	case TypeF32, TypeF16, TypeBF16, TypeQ8_0, TypeQ4_0, TypeQ4_1, TypeQ5_0, TypeQ5_1, TypeQ2_K, TypeQ4_K:
		return true
	}
	_, gw := t.Groupwise()
	return gw
}

// EncodeRow appends src encoded as type t to dst and returns the extended
// slice. len(src) must be a multiple of t's block size. It does not
// allocate when dst has room, and is safe for concurrent use.
func EncodeRow(dst []byte, src []float32, t Type) ([]byte, error) {
	if !Quantizable(t) {
		return dst, fmt.Errorf("cannot encode type %s: tinyprof quantizes to F32, F16, BF16, Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q2_K, Q4_K and the group-wise types", t)
	}
	bs := int(t.BlockSize())
	if len(src)%bs != 0 {
		return dst, fmt.Errorf("%d values are not a whole number of %d-element %s blocks", len(src), bs, t)
	}
	need := len(src) / bs * int(t.BlockBytes())
	dst = grow(dst, need)
	out := dst[len(dst)-need:]
	if g, ok := t.Groupwise(); ok {
		quantizeGroupwise(out, src, g)
		return dst, nil
	}
	switch t {
	case TypeF32:
		for i, v := range src {
			binary.LittleEndian.PutUint32(out[4*i:], math.Float32bits(v))
		}
	case TypeF16:
		for i, v := range src {
			binary.LittleEndian.PutUint16(out[2*i:], fp32ToFP16(v))
		}
	case TypeBF16:
		for i, v := range src {
			binary.LittleEndian.PutUint16(out[2*i:], fp32ToBF16(v))
		}
	case TypeQ8_0:
		quantizeQ8_0(out, src)
	case TypeQ4_0:
		quantizeQ4_0(out, src)
	case TypeQ4_1:
		quantizeQ4_1(out, src)
	case TypeQ5_0:
		quantizeQ5_0(out, src)
	case TypeQ5_1:
		quantizeQ5_1(out, src)
	case TypeQ2_K:
		quantizeQ2K(out, src)
	case TypeQ4_K:
		quantizeQ4K(out, src)
	}
	return dst, nil
}

// grow extends b by n bytes.
func grow(b []byte, n int) []byte {
	if cap(b)-len(b) < n {
		nb := make([]byte, len(b), len(b)+n)
		copy(nb, b)
		b = nb
	}
	return b[:len(b)+n]
}

func quantizeQ8_0(out []byte, x []float32) {
	for len(x) >= 32 {
		blk := x[:32:32]
		y := out[:34:34]
		var amax float32
		for _, v := range blk {
			if a := abs32(v); a > amax {
				amax = a
			}
		}
		d := amax / 127
		var id float32
		if d != 0 {
			id = 1 / d
		}
		binary.LittleEndian.PutUint16(y, fp32ToFP16(d))
		for j, v := range blk {
			y[2+j] = byte(int8(roundi(float32(v * id))))
		}
		x, out = x[32:], out[34:]
	}
}

// roundi is C's roundf (nearest, halves away from zero) converted to int32, without branches: on random
// weights the halfway tests are coin flips that a branch predictor loses,
// and they cost Q8_0 most of its time. For |v| < 2^23, v - trunc(v) is
// exact, and the sign bit of d-0.5 (of -0.5-d) is clear exactly when
// d >= 0.5 (d <= -0.5), +0 included.
func roundi(v float32) int32 {
	t := int32(v)
	d := v - float32(t)
	up := 1 - int32(math.Float32bits(d-0.5)>>31)
	down := 1 - int32(math.Float32bits(-0.5-d)>>31)
	return t + up - down
}

// absMax returns the value of largest magnitude, the first one on ties,
// as the q4_0/q5_0 reference loops find it. (A branchless version measured
// slower: after the first few elements a new maximum is rare, so the
// branch predicts well.)
func absMax(blk []float32) float32 {
	var amax, m float32
	for _, v := range blk {
		if a := abs32(v); amax < a {
			amax, m = a, v
		}
	}
	return m
}

func minMax(blk []float32) (lo, hi float32) {
	lo, hi = math.MaxFloat32, -math.MaxFloat32
	for _, v := range blk {
		if v < lo {
			lo = v
		}
		if v > hi {
			hi = v
		}
	}
	return lo, hi
}

// trunc8 is C's (int8_t) cast of a float in range.
func trunc8(v float32) int { return int(int8(int32(v))) }

func quantizeQ4_0(out []byte, x []float32) {
	for len(x) >= 32 {
		blk := x[:32:32]
		y := out[:18:18]
		d := absMax(blk) / -8
		var id float32
		if d != 0 {
			id = 1 / d
		}
		binary.LittleEndian.PutUint16(y, fp32ToFP16(d))
		for j := range 16 {
			x0 := float32(blk[j] * id)
			x1 := float32(blk[16+j] * id)
			xi0 := min(15, trunc8(x0+8.5))
			xi1 := min(15, trunc8(x1+8.5))
			y[2+j] = byte(xi0) | byte(xi1)<<4
		}
		x, out = x[32:], out[18:]
	}
}

func quantizeQ4_1(out []byte, x []float32) {
	for len(x) >= 32 {
		blk := x[:32:32]
		y := out[:20:20]
		lo, hi := minMax(blk)
		d := (hi - lo) / 15
		var id float32
		if d != 0 {
			id = 1 / d
		}
		binary.LittleEndian.PutUint16(y, fp32ToFP16(d))
		binary.LittleEndian.PutUint16(y[2:], fp32ToFP16(lo))
		for j := range 16 {
			x0 := float32((blk[j] - lo) * id)
			x1 := float32((blk[16+j] - lo) * id)
			xi0 := min(15, trunc8(x0+0.5))
			xi1 := min(15, trunc8(x1+0.5))
			y[4+j] = byte(xi0) | byte(xi1)<<4
		}
		x, out = x[32:], out[20:]
	}
}

func quantizeQ5_0(out []byte, x []float32) {
	for len(x) >= 32 {
		blk := x[:32:32]
		y := out[:22:22]
		d := absMax(blk) / -16
		var id float32
		if d != 0 {
			id = 1 / d
		}
		binary.LittleEndian.PutUint16(y, fp32ToFP16(d))
		var qh uint32
		for j := range 16 {
			x0 := float32(blk[j] * id)
			x1 := float32(blk[16+j] * id)
			xi0 := uint8(min(31, trunc8(x0+16.5)))
			xi1 := uint8(min(31, trunc8(x1+16.5)))
			y[6+j] = xi0&0x0F | (xi1&0x0F)<<4
			qh |= uint32(xi0&0x10) >> 4 << j
			qh |= uint32(xi1&0x10) >> 4 << (j + 16)
		}
		binary.LittleEndian.PutUint32(y[2:], qh)
		x, out = x[32:], out[22:]
	}
}

func quantizeQ5_1(out []byte, x []float32) {
	for len(x) >= 32 {
		blk := x[:32:32]
		y := out[:24:24]
		lo, hi := minMax(blk)
		d := (hi - lo) / 31
		var id float32
		if d != 0 {
			id = 1 / d
		}
		binary.LittleEndian.PutUint16(y, fp32ToFP16(d))
		binary.LittleEndian.PutUint16(y[2:], fp32ToFP16(lo))
		var qh uint32
		for j := range 16 {
			x0 := float32((blk[j] - lo) * id)
			x1 := float32((blk[16+j] - lo) * id)
			xi0 := uint8(int32(x0 + 0.5)) // (uint8_t) cast, no clamp in ggml
			xi1 := uint8(int32(x1 + 0.5))
			y[8+j] = xi0&0x0F | (xi1&0x0F)<<4
			qh |= uint32(xi0&0x10) >> 4 << j
			qh |= uint32(xi1&0x10) >> 4 << (j + 16)
		}
		binary.LittleEndian.PutUint32(y[4:], qh)
		x, out = x[32:], out[24:]
	}
}

// DecodeRow appends the float32 values of src, encoded as type t, to dst.
// It handles the types EncodeRow produces.
func DecodeRow(dst []float32, src []byte, t Type) ([]float32, error) {
	if !Quantizable(t) {
		return dst, fmt.Errorf("cannot decode type %s", t)
	}
	bb := int(t.BlockBytes())
	if len(src)%bb != 0 {
		return dst, fmt.Errorf("%d bytes are not a whole number of %d-byte %s blocks", len(src), bb, t)
	}
	le := binary.LittleEndian
	dst = slices.Grow(dst, len(src)/bb*int(t.BlockSize()))
	if g, ok := t.Groupwise(); ok {
		return decodeGroupwise(dst, src, g), nil
	}
	// The element types get loops of their own: a type switch per
	// element was a third of a Q8_0 quantization's time.
	switch t {
	case TypeF32:
		for i := 0; i < len(src); i += 4 {
			dst = append(dst, math.Float32frombits(le.Uint32(src[i:])))
		}
		return dst, nil
	case TypeF16:
		for i := 0; i < len(src); i += 2 {
			dst = append(dst, fp16ToFP32(le.Uint16(src[i:])))
		}
		return dst, nil
	case TypeBF16:
		for i := 0; i < len(src); i += 2 {
			dst = append(dst, bf16ToFP32(le.Uint16(src[i:])))
		}
		return dst, nil
	}
	for ; len(src) > 0; src = src[bb:] {
		b := src[:bb]
		switch t {
		case TypeQ8_0:
			d := fp16ToFP32(le.Uint16(b))
			for _, q := range b[2:34] {
				dst = append(dst, float32(int8(q))*d)
			}
		case TypeQ4_0, TypeQ4_1, TypeQ5_0, TypeQ5_1:
			dst = decodeQ45(dst, b, t)
		case TypeQ2_K:
			dst = decodeQ2K(dst, b)
		case TypeQ4_K:
			dst = decodeQ4K(dst, b)
		}
	}
	return dst, nil
}

// decodeQ45 follows dequantize_row_q{4,5}_{0,1} in ggml-quants.c.
func decodeQ45(dst []float32, b []byte, t Type) []float32 {
	le := binary.LittleEndian
	d := fp16ToFP32(le.Uint16(b))
	var m float32
	var qh uint32
	qs := b[2:]
	switch t {
	case TypeQ4_1:
		m, qs = fp16ToFP32(le.Uint16(b[2:])), b[4:]
	case TypeQ5_0:
		qh, qs = le.Uint32(b[2:]), b[6:]
	case TypeQ5_1:
		m, qh, qs = fp16ToFP32(le.Uint16(b[2:])), le.Uint32(b[4:]), b[8:]
	}
	var v [32]float32
	for j := range 16 {
		x0, x1 := int(qs[j]&0x0F), int(qs[j]>>4)
		if t == TypeQ5_0 || t == TypeQ5_1 {
			x0 |= int((qh>>j)<<4) & 0x10
			x1 |= int(qh>>(j+12)) & 0x10
		}
		switch t {
		case TypeQ4_0:
			v[j], v[j+16] = float32(x0-8)*d, float32(x1-8)*d
		case TypeQ5_0:
			v[j], v[j+16] = float32(x0-16)*d, float32(x1-16)*d
		default:
			v[j], v[j+16] = float32(float32(x0)*d)+m, float32(float32(x1)*d)+m
		}
	}
	return append(dst, v[:]...)
}
