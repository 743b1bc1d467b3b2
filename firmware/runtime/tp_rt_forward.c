//go:build ignore

// The line above keeps the Go tool from treating this directory as a cgo
// package; the tests build this file with the system C compiler.

/*
 * tp_rt_forward.c - the llama forward pass.
 *
 * The architecture is the published one (Touvron et al. 2023, "LLaMA";
 * grouped-query attention from Ainslie et al. 2023): pre-norm blocks with
 * RMSNorm, rotary position embedding on adjacent pairs of each query and
 * key head, causal attention over a KV cache, and a SwiGLU feed-forward
 * network, then a final RMSNorm and the classifier.
 *
 * Every sum runs in index order, one float32 rounding per operation, so
 * the Go twin repeats it exactly. Quantized weights are expanded one value
 * at a time (value = quant times scale, as model/quant.go decodes) and
 * multiplied with the float32 activation.
 */
#include <string.h>

#include "tp_rt.h"

static float ld_f32(const uint8_t *p)
{
    float f;
    memcpy(&f, p, 4); /* weights may sit at any alignment */
    return f;
}

static float ld_half(const uint8_t *p)
{
    return tp_rt_half((uint16_t)(p[0] | p[1] << 8));
}

#ifndef TP_RT_NO_GROUPWISE
/* gw_row expands row r (n values) of a group-wise tensor (model/GROUPWISE.md)
 * one weight at a time, (code - o) * d + m with the product rounded before
 * the add, and returns its dot product with x, or with x NULL stores the
 * weights in out. One loop for both saves flash; the x test per weight is
 * a compare and a predicted branch. */
static float gw_row(const tp_rt_model *m, const tp_rt_tensor *t, uint32_t r, const float *x, float *out, uint32_t n)
{
    uint32_t bits = t->type >> 8 & 15u, group = 1u << (t->type & 15u), asym = t->type >> 12 & 1u;
    uint32_t hdr = 2u + 2u * asym, bb = hdr + group * bits / 8u, mask = (1u << bits) - 1u, j = 0, b, k;
    int o = asym ? 0 : 1 << (bits - 1);
    const uint8_t *p = m->data + t->off + (size_t)r * (n / group) * bb;
    float acc = 0.0f;
    for (; j < n; p += bb) {
        float d = ld_half(p), mn = asym ? ld_half(p + 2) : 0.0f;
        for (b = hdr; b < bb; b++) {
            uint32_t q = p[b];
            if (x)
                for (k = 0; k < 8u; k += bits, q >>= bits)
                    acc += ((float)((int)(q & mask) - o) * d + mn) * x[j++];
            else
                for (k = 0; k < 8u; k += bits, q >>= bits)
                    out[j++] = (float)((int)(q & mask) - o) * d + mn;
        }
    }
    return acc;
}
#endif

#ifndef TP_RT_NO_LLAMA2C
/* i8_row returns the dot product of row r (n values) of a llama2.c int8
 * tensor with x; its groups run across rows. It is kept out of line: inside
 * dot_row, beside the group-wise call, GCC -Os spilled this loop's pointers
 * to the stack: Stories260K int8 cost 5,042,095 instructions a token on the
 * Cortex-M4F, against 3,794,619 out of line. */
#if defined(__GNUC__)
__attribute__((noinline))
#endif
static float i8_row(const tp_rt_model *m, const tp_rt_tensor *t, uint32_t r, const float *x, uint32_t n)
{
    const uint8_t *p = m->data + t->off, *s = m->data + t->soff;
    uint32_t gs = m->c.group, idx = r * n, g = idx / gs, left = gs - idx % gs, j;
    float sc = ld_f32(s + 4u * g), acc = 0.0f;
    p += idx;
    for (j = 0; j < n; j++) {
        if (left == 0) {
            sc = ld_f32(s + 4u * ++g);
            left = gs;
        }
        acc += ((float)(int8_t)p[j] * sc) * x[j];
        left--;
    }
    return acc;
}
#endif

/* dot_row returns the dot product of row r (of n values) of t with x. */
static float dot_row(const tp_rt_model *m, const tp_rt_tensor *t, uint32_t r, const float *x, uint32_t n)
{
    const uint8_t *p = m->data + t->off;
    float acc = 0.0f;
    uint32_t j;
#ifndef TP_RT_NO_GROUPWISE
    if (t->type > 0xffffu)
        return gw_row(m, t, r, x, NULL, n);
#endif
    switch (t->type) {
    case TP_RT_F32:
        p += (size_t)r * n * 4u;
        for (j = 0; j < n; j++)
            acc += ld_f32(p + 4u * j) * x[j];
        break;
#ifndef TP_RT_NO_GGML_QUANTS
    case TP_RT_Q8_0: {
        uint32_t b;
        p += (size_t)r * (n / 32u) * 34u;
        for (b = 0; b < n; b += 32u, p += 34) {
            float d = ld_half(p);
            for (j = 0; j < 32u; j++)
                acc += ((float)(int8_t)p[2 + j] * d) * x[b + j];
        }
        break;
    }
    case TP_RT_Q4_0: {
        uint32_t b;
        p += (size_t)r * (n / 32u) * 18u;
        for (b = 0; b < n; b += 32u, p += 18) {
            float d = ld_half(p);
            for (j = 0; j < 16u; j++)
                acc += ((float)((int)(p[2 + j] & 15u) - 8) * d) * x[b + j];
            for (j = 0; j < 16u; j++)
                acc += ((float)((int)(p[2 + j] >> 4) - 8) * d) * x[b + 16u + j];
        }
        break;
    }
#endif
#ifndef TP_RT_NO_LLAMA2C
    default: /* TP_RT_I8G */
        return i8_row(m, t, r, x, n);
#endif
    }
    return acc;
}

/* get_row expands row r (n values) of t into out. */
static void get_row(const tp_rt_model *m, const tp_rt_tensor *t, uint32_t r, float *out, uint32_t n)
{
    const uint8_t *p = m->data + t->off;
    uint32_t j;
#ifndef TP_RT_NO_GROUPWISE
    if (t->type > 0xffffu) {
        gw_row(m, t, r, NULL, out, n);
        return;
    }
#endif
    switch (t->type) {
    case TP_RT_F32:
        p += (size_t)r * n * 4u;
        for (j = 0; j < n; j++)
            out[j] = ld_f32(p + 4u * j);
        break;
#ifndef TP_RT_NO_GGML_QUANTS
    case TP_RT_Q8_0: {
        uint32_t b;
        p += (size_t)r * (n / 32u) * 34u;
        for (b = 0; b < n; b += 32u, p += 34) {
            float d = ld_half(p);
            for (j = 0; j < 32u; j++)
                out[b + j] = (float)(int8_t)p[2 + j] * d;
        }
        break;
    }
    case TP_RT_Q4_0: {
        uint32_t b;
        p += (size_t)r * (n / 32u) * 18u;
        for (b = 0; b < n; b += 32u, p += 18) {
            float d = ld_half(p);
            for (j = 0; j < 16u; j++) {
                out[b + j] = (float)((int)(p[2 + j] & 15u) - 8) * d;
                out[b + 16u + j] = (float)((int)(p[2 + j] >> 4) - 8) * d;
            }
        }
        break;
    }
#endif
#ifndef TP_RT_NO_LLAMA2C
    default: {
        uint32_t gs = m->c.group, idx = r * n;
        const uint8_t *s = m->data + t->soff;
        for (j = 0; j < n; j++, idx++)
            out[j] = (float)(int8_t)p[idx] * ld_f32(s + 4u * (idx / gs));
        break;
    }
#endif
    }
}

static void matmul(const tp_rt_model *m, float *out, const float *x, const tp_rt_tensor *t, uint32_t n, uint32_t rows)
{
    uint32_t i;
    for (i = 0; i < rows; i++)
        out[i] = dot_row(m, t, i, x, n);
}

/* rmsnorm: out = w * (x / sqrt(mean(x^2) + eps)); out may be x. */
static void rmsnorm(const tp_rt_model *m, float *out, const float *x, const tp_rt_tensor *w, uint32_t n)
{
    const uint8_t *p = m->data + w->off;
    float ss = 0.0f, inv;
    uint32_t j;
    for (j = 0; j < n; j++)
        ss += x[j] * x[j];
    ss = ss / (float)n;
    ss = ss + m->c.eps;
    inv = 1.0f / tp_rt_sqrtf(ss);
    for (j = 0; j < n; j++)
        out[j] = ld_f32(p + 4u * j) * (inv * x[j]);
}

/* rope rotates each adjacent pair (2i, 2i+1) of every head of v by the
 * position's angle for frequency i. */
static void rope(const tp_rt_model *m, float *v, uint32_t heads)
{
    uint32_t h, i, hd = m->c.head_dim;
    for (h = 0; h < heads; h++) {
        float *p = v + h * hd;
        for (i = 0; i < hd / 2u; i++) {
            float a = p[2u * i], b = p[2u * i + 1u], c = m->rcos[i], s = m->rsin[i];
            p[2u * i] = a * c - b * s;
            p[2u * i + 1u] = a * s + b * c;
        }
    }
}

void tp_rt_softmax(float *x, uint32_t n)
{
    float mx = x[0], sum = 0.0f;
    uint32_t i;
    for (i = 1; i < n; i++)
        if (x[i] > mx)
            mx = x[i];
    for (i = 0; i < n; i++) {
        x[i] = tp_rt_expf(x[i] - mx);
        sum += x[i];
    }
    for (i = 0; i < n; i++)
        x[i] = x[i] / sum;
}

static void attention(const tp_rt_model *m, uint32_t l, uint32_t pos)
{
    const tp_rt_config *c = &m->c;
    uint32_t hd = c->head_dim, kvd = c->kv_heads * hd, group = c->heads / c->kv_heads, h, t, i;
    const float *kl = m->kc + (size_t)l * m->ctx * kvd, *vl = m->vc + (size_t)l * m->ctx * kvd;
    float scale = tp_rt_sqrtf((float)hd);
    for (h = 0; h < c->heads; h++) {
        const float *q = m->q + h * hd;
        uint32_t kh = (h / group) * hd;
        float *out = m->xb + h * hd;
        for (t = 0; t <= pos; t++) {
            const float *k = kl + (size_t)t * kvd + kh;
            float s = 0.0f;
            for (i = 0; i < hd; i++)
                s += q[i] * k[i];
            m->att[t] = s / scale;
        }
        tp_rt_softmax(m->att, pos + 1u);
        for (i = 0; i < hd; i++)
            out[i] = 0.0f;
        for (t = 0; t <= pos; t++) {
            const float *v = vl + (size_t)t * kvd + kh;
            float w = m->att[t];
            for (i = 0; i < hd; i++)
                out[i] += w * v[i];
        }
    }
}

int tp_rt_forward(tp_rt_model *m, uint32_t token, uint32_t pos)
{
    const tp_rt_config *c = &m->c;
    uint32_t d = c->dim, kvd = c->kv_heads * c->head_dim, l, i;
    if (!m->data)
        return TP_RT_ERR_NO_MODEL;
    if (token >= c->vocab || pos >= m->ctx)
        return TP_RT_ERR_ARG;
    get_row(m, &m->emb, token, m->x, d);
    for (i = 0; i < c->head_dim / 2u; i++)
        tp_rt_sincosf((float)pos * m->freq[i], &m->rsin[i], &m->rcos[i]);
    for (l = 0; l < c->layers; l++) {
        const tp_rt_layer *L = &m->layer[l];
        float *k = m->kc + ((size_t)l * m->ctx + pos) * kvd, *v = m->vc + ((size_t)l * m->ctx + pos) * kvd;
        rmsnorm(m, m->xb, m->x, &L->t[TP_RT_ATTN_NORM], d);
        matmul(m, m->q, m->xb, &L->t[TP_RT_WQ], d, d);
        matmul(m, k, m->xb, &L->t[TP_RT_WK], d, kvd);
        matmul(m, v, m->xb, &L->t[TP_RT_WV], d, kvd);
        rope(m, m->q, c->heads);
        rope(m, k, c->kv_heads);
        attention(m, l, pos);
        matmul(m, m->xb2, m->xb, &L->t[TP_RT_WO], d, d);
        for (i = 0; i < d; i++)
            m->x[i] += m->xb2[i];
        rmsnorm(m, m->xb, m->x, &L->t[TP_RT_FFN_NORM], d);
        matmul(m, m->hb, m->xb, &L->t[TP_RT_W1], d, c->hidden);
        matmul(m, m->hb2, m->xb, &L->t[TP_RT_W3], d, c->hidden);
        for (i = 0; i < c->hidden; i++) { /* SwiGLU: silu(w1 x) * (w3 x) */
            float g = m->hb[i];
            m->hb[i] = (g / (1.0f + tp_rt_expf(-g))) * m->hb2[i];
        }
        matmul(m, m->xb, m->hb, &L->t[TP_RT_W2], c->hidden, d);
        for (i = 0; i < d; i++)
            m->x[i] += m->xb[i];
    }
    rmsnorm(m, m->x, m->x, &m->out_norm, d);
    matmul(m, m->logits, m->x, &m->cls, d, c->vocab);
    return TP_RT_OK;
}
