package llama

import "math"

// The functions in this file are the runtime's own elementary functions,
// the same sequence of float32 operations as firmware/runtime/tp_rt_math.c,
// so that Go, a host C build and a Cortex-M build agree bit for bit. Each
// product is converted to float32 explicitly: the Go spec lets a compiler
// fuse x*y + z into one rounding (it does on arm64, and on amd64 with
// GOAMD64=v3) unless a conversion forces the product to be rounded.

// mul returns x*y rounded to float32, never fused with a later add.
func mul(x, y float32) float32 { return float32(x * y) }

// roundHalfAway is C's (int32_t)(t >= 0 ? t + 0.5f : t - 0.5f).
func roundHalfAway(t float32) int32 {
	if t >= 0 {
		return int32(float32(t + 0.5))
	}
	return int32(float32(t - 0.5))
}

// Exp returns e^x: 2^k e^r with k = round(x/ln 2), r reduced in two parts
// and e^r by its degree-6 Taylor polynomial; +Inf above 88, 0 below -87.
func Exp(x float32) float32 {
	switch {
	case x != x:
		return x
	case x > 88:
		return float32(math.Inf(1))
	case x < -87:
		return 0
	}
	k := roundHalfAway(mul(x, 0x1.715476p+0))
	kf := float32(k)
	r := x - mul(kf, 0x1.62ep-1)
	r = r - mul(kf, 0x1.0bfbe8p-15)
	p := float32(0x1.6c16c2p-10)
	p = mul(p, r) + 0x1.111112p-7
	p = mul(p, r) + 0x1.555556p-5
	p = mul(p, r) + 0x1.555556p-3
	p = mul(p, r) + 0x1p-1
	p = mul(p, r) + 1
	p = mul(p, r) + 1
	return mul(p, math.Float32frombits(uint32(k+127)<<23))
}

// Log returns ln x for a positive normal x (0 otherwise) from 2 atanh of
// s = (m-1)/(m+1); only RoPE frequencies use it.
func Log(x float32) float32 {
	u := math.Float32bits(x)
	e := int32(u>>23) & 0xff
	if !(x > 0) || e == 0 || e == 255 {
		return 0
	}
	e -= 127
	m := math.Float32frombits(u&0x7fffff | 0x3f800000)
	if m > 0x1.6a09e6p+0 {
		m = mul(m, 0.5)
		e++
	}
	s := float32(m-1) / float32(m+1)
	s2 := mul(s, s)
	p := float32(0x1.745d18p-4)
	p = mul(p, s2) + 0x1.c71c72p-4
	p = mul(p, s2) + 0x1.24924ap-3
	p = mul(p, s2) + 0x1.99999ap-3
	p = mul(p, s2) + 0x1.555556p-2
	p = mul(p, s2) + 1
	p = mul(mul(2, s), p)
	ef := float32(e)
	return mul(ef, 0x1.62ep-1) + float32(p+mul(ef, 0x1.0bfbe8p-15))
}

// Sqrt is the correctly rounded square root by the digit-by-digit integer
// method, as the C runtime computes it (tests check it equals IEEE sqrt).
func Sqrt(x float32) float32 {
	u := math.Float32bits(x)
	if x == 0 || x != x || u == 0x7f800000 {
		return x
	}
	if u>>31 != 0 {
		return math.Float32frombits(0x7fc00000)
	}
	e := int32(u >> 23)
	m := u & 0x7fffff
	if e == 0 {
		e = 1
		for m&0x800000 == 0 {
			m <<= 1
			e--
		}
	} else {
		m |= 0x800000
	}
	ex := e - 150
	if ex&1 != 0 {
		m <<= 1
		ex--
	}
	big := uint64(m) << 26
	var root, rem uint64
	for i := 25; i >= 0; i-- {
		root <<= 1
		rem = rem<<2 | (big>>(2*i))&3
		if t := root<<1 | 1; rem >= t {
			rem -= t
			root |= 1
		}
	}
	shift := int32(25)
	if root>>25 != 0 {
		shift = 26
	}
	shift -= 24
	q := uint32(root >> shift)
	if rb := uint32(root) & (1<<shift - 1); rb >= 1<<(shift-1) {
		q++
	}
	ex = (ex-26)/2 + shift
	if q>>24 != 0 {
		q >>= 1
		ex++
	}
	return math.Float32frombits(uint32(ex+150)<<23 | q&0x7fffff)
}

// SinCos returns sin a and cos a: a = k π/2 + r with π/2 in three parts
// and Taylor polynomials on |r| ≤ π/4; (0, 1) beyond ±1e9 or for NaN.
func SinCos(a float32) (s, c float32) {
	if !(a > -1e9 && a < 1e9) {
		return 0, 1
	}
	k := roundHalfAway(mul(a, 0x1.45f306p-1))
	kf := float32(k)
	r := a - mul(kf, 0x1.92p+0)
	r = r - mul(kf, 0x1.fb4p-12)
	r = r - mul(kf, 0x1.4442d2p-24)
	r2 := mul(r, r)
	sp := float32(-0x1.a01a02p-13)
	sp = mul(sp, r2) + 0x1.111112p-7
	sp = mul(sp, r2) - 0x1.555556p-3
	sp = r + mul(mul(r, r2), sp)
	cp := float32(0x1.a01a02p-16)
	cp = mul(cp, r2) - 0x1.6c16c2p-10
	cp = mul(cp, r2) + 0x1.555556p-5
	cp = mul(cp, r2) - 0x1p-1
	cp = mul(cp, r2) + 1
	switch uint32(k) & 3 {
	case 0:
		return sp, cp
	case 1:
		return cp, -sp
	case 2:
		return -sp, -cp
	}
	return -cp, sp
}

// half converts an IEEE binary16 to float32 exactly.
func half(h uint16) float32 {
	sign := uint32(h&0x8000) << 16
	ex, man := uint32(h>>10)&0x1f, uint32(h&0x3ff)
	switch {
	case ex == 0x1f:
		return math.Float32frombits(sign | 0x7f800000 | man<<13)
	case ex != 0:
		return math.Float32frombits(sign | (ex+112)<<23 | man<<13)
	}
	v := mul(float32(man), 0x1p-24)
	if sign != 0 {
		return -v
	}
	return v
}
