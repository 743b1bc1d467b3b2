//go:build ignore

// The line above keeps the Go tool from treating this directory as a cgo
// package; the tests build this file with the system C compiler.

/*
 * tp_rt_math.c - the runtime's own elementary functions.
 *
 * Each is a fixed sequence of single-precision IEEE operations (every one
 * correctly rounded, none fused when built with -ffp-contract=off), so it
 * returns the same bits on any conforming FPU and in the Go twin
 * (model/llama/math.go), which performs the same operations in the same
 * order. They are accurate to a few ulp, which the model does not notice;
 * what matters is that they are identical everywhere. The constants are
 * written as hex floats so no compiler rounds them differently.
 */
#include <string.h>

#include "tp_rt.h"

static uint32_t bits_of(float f)
{
    uint32_t u;
    memcpy(&u, &f, 4);
    return u;
}

static float from_bits(uint32_t u)
{
    float f;
    memcpy(&f, &u, 4);
    return f;
}

/* round_half_away returns t rounded to the nearest integer, halves away
 * from zero; |t| must be below 2^31. */
static int32_t round_half_away(float t)
{
    return (int32_t)(t >= 0.0f ? t + 0.5f : t - 0.5f);
}

/* tp_rt_expf: e^x = 2^k * e^r with k = round(x / ln 2) and
 * r = x - k ln 2 in two parts (Cody and Waite), |r| <= 0.35, and e^r by
 * its degree-6 Taylor polynomial in Horner form (error below 2e-7). Above
 * 88 the result is +inf, below -87 it is 0, so 2^k is always a normal
 * float built from its bits. */
float tp_rt_expf(float x)
{
    int32_t k;
    float kf, r, p;
    if (x != x)
        return x;
    if (x > 88.0f)
        return from_bits(0x7f800000u);
    if (x < -87.0f)
        return 0.0f;
    k = round_half_away(x * 0x1.715476p+0f);
    kf = (float)k;
    r = x - kf * 0x1.62ep-1f;
    r = r - kf * 0x1.0bfbe8p-15f;
    p = 0x1.6c16c2p-10f;
    p = p * r + 0x1.111112p-7f;
    p = p * r + 0x1.555556p-5f;
    p = p * r + 0x1.555556p-3f;
    p = p * r + 0x1p-1f;
    p = p * r + 1.0f;
    p = p * r + 1.0f;
    return p * from_bits((uint32_t)(k + 127) << 23);
}

/* tp_rt_logf: for a positive normal x = m 2^e with m in [sqrt(1/2),
 * sqrt(2)), log m = 2 atanh(s), s = (m-1)/(m+1), by its series to s^11.
 * Only the loader uses it (RoPE frequencies); other inputs return 0. */
float tp_rt_logf(float x)
{
    uint32_t u = bits_of(x);
    int32_t e = (int32_t)((u >> 23) & 0xffu);
    float m, s, s2, p, ef;
    if (!(x > 0.0f) || e == 0 || e == 255)
        return 0.0f;
    e -= 127;
    m = from_bits((u & 0x7fffffu) | 0x3f800000u);
    if (m > 0x1.6a09e6p+0f) {
        m = m * 0.5f;
        e++;
    }
    s = (m - 1.0f) / (m + 1.0f);
    s2 = s * s;
    p = 0x1.745d18p-4f;
    p = p * s2 + 0x1.c71c72p-4f;
    p = p * s2 + 0x1.24924ap-3f;
    p = p * s2 + 0x1.99999ap-3f;
    p = p * s2 + 0x1.555556p-2f;
    p = p * s2 + 1.0f;
    p = 2.0f * s * p;
    ef = (float)e;
    return ef * 0x1.62ep-1f + (p + ef * 0x1.0bfbe8p-15f);
}

/* tp_rt_sqrtf is the correctly rounded square root, by the digit-by-digit
 * integer method on the significand: the same bits as IEEE sqrt, without
 * depending on libm or an FPU instruction. On an Arm FPU with single
 * precision (Cortex-M4F, M7, M33) it is VSQRT.F32, which IEEE 754 also
 * requires to be correctly rounded: the same bits for every number (a NaN
 * may come back quieted), in 8 bytes instead of some 220.
 * -DTP_RT_PORTABLE_MATH keeps the integer method there too. */
#if defined(__ARM_FP) && (__ARM_FP & 4) && !defined(TP_RT_PORTABLE_MATH)
float tp_rt_sqrtf(float x)
{
    float r;
    __asm__("vsqrt.f32 %0, %1" : "=t"(r) : "t"(x));
    return r;
}
#else
float tp_rt_sqrtf(float x)
{
    uint32_t u = bits_of(x), m, q, rb, half;
    int32_t e, ex, shift, nb;
    uint32_t root = 0, rem = 0;
    int i;
    if (x == 0.0f || x != x || u == 0x7f800000u)
        return x;
    if (u >> 31)
        return from_bits(0x7fc00000u);
    e = (int32_t)(u >> 23);
    m = u & 0x7fffffu;
    if (e == 0) { /* subnormal: normalise */
        e = 1;
        while (!(m & 0x800000u)) {
            m <<= 1;
            e--;
        }
    } else {
        m |= 0x800000u;
    }
    ex = e - 150; /* x = m 2^ex */
    if (ex & 1) {
        m <<= 1;
        ex--;
    }
    /* Digit by digit over big = m << 26 (below 2^51), two bits a step;
     * the bits come from m, then zeros, and root and rem stay below 2^27. */
    for (i = 25; i >= 0; i--) {
        uint32_t t, two = 2 * i >= 26 ? (m >> (2 * i - 26)) & 3u : 0u;
        root <<= 1;
        rem = (rem << 2) | two;
        t = (root << 1) | 1u;
        if (rem >= t) {
            rem -= t;
            root |= 1u;
        }
    }
    /* root = floor(sqrt(big)) has 25 or 26 bits; keep 24. An exact tie is
     * impossible for a square root, so a round part of at least half
     * means round up. */
    nb = root >> 25 ? 26 : 25;
    shift = nb - 24;
    q = (uint32_t)(root >> shift);
    rb = root & ((1u << shift) - 1u);
    half = 1u << (shift - 1);
    if (rb >= half)
        q++;
    ex = (ex - 26) / 2 + shift;
    if (q >> 24) {
        q >>= 1;
        ex++;
    }
    return from_bits((uint32_t)(ex + 150) << 23 | (q & 0x7fffffu));
}
#endif

/* tp_rt_sincosf: a = k pi/2 + r with pi/2 in three parts (the first two
 * with 12 significant bits, so k times them is exact for |k| < 4096, that
 * is |a| < 6400), |r| <= pi/4, and Taylor polynomials for sin r (to r^7)
 * and cos r (to r^8). Beyond 1e9 or NaN it returns sin 0 and cos 0. */
void tp_rt_sincosf(float a, float *s, float *c)
{
    int32_t k;
    float kf, r, r2, sp, cp;
    if (!(a > -1.0e9f && a < 1.0e9f)) {
        *s = 0.0f;
        *c = 1.0f;
        return;
    }
    k = round_half_away(a * 0x1.45f306p-1f);
    kf = (float)k;
    r = a - kf * 0x1.92p+0f;
    r = r - kf * 0x1.fb4p-12f;
    r = r - kf * 0x1.4442d2p-24f;
    r2 = r * r;
    sp = -0x1.a01a02p-13f;
    sp = sp * r2 + 0x1.111112p-7f;
    sp = sp * r2 - 0x1.555556p-3f;
    sp = r + (r * r2) * sp;
    cp = 0x1.a01a02p-16f;
    cp = cp * r2 - 0x1.6c16c2p-10f;
    cp = cp * r2 + 0x1.555556p-5f;
    cp = cp * r2 - 0x1p-1f;
    cp = cp * r2 + 1.0f;
    switch ((uint32_t)k & 3u) {
    case 0:
        *s = sp;
        *c = cp;
        break;
    case 1:
        *s = cp;
        *c = -sp;
        break;
    case 2:
        *s = -sp;
        *c = -cp;
        break;
    default:
        *s = -cp;
        *c = sp;
        break;
    }
}

/* tp_rt_half converts an IEEE binary16 to float exactly. */
#if defined(__ARM_FP) && (__ARM_FP & 2) && !defined(TP_RT_PORTABLE_MATH)
/* VCVTB.F32.F16 converts IEEE binary16 exactly (FPSCR.AHP is 0 from
 * reset, and FZ too, so subnormals are kept); only a signalling NaN's
 * payload may come back quieted. */
float tp_rt_half(uint16_t h)
{
    float r;
    __asm__("vmov %0, %1\n\tvcvtb.f32.f16 %0, %0" : "=&t"(r) : "r"((uint32_t)h));
    return r;
}
#else
float tp_rt_half(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    uint32_t ex = (h >> 10) & 0x1fu, man = h & 0x3ffu;
    float v;
    if (ex == 0x1fu)
        return from_bits(sign | 0x7f800000u | man << 13);
    if (ex != 0)
        return from_bits(sign | (ex + 112u) << 23 | man << 13);
    v = (float)man * 0x1p-24f; /* subnormal or zero: exact */
    return sign ? -v : v;
}
#endif
