//go:build ignore

// The line above keeps the Go tool from treating this directory as a cgo
// package; the tests build this file with the system C compiler.

/*
 * tp_rt_load.c - llama2.c and GGUF model loading.
 *
 * The input is hostile: every read is bounds-checked against len, every
 * size is computed in 64 bits from fields already range-checked, and no
 * loop runs more often than the bytes it consumes allow. Tensors are
 * recorded as offsets into the caller's bytes and never copied.
 *
 * Formats, from their published descriptions: llama2.c's export.py
 * (legacy header of seven int32 + float32 weights; version 1 and 2
 * exports with a 256-byte header "ak42"), and GGUF (ggml docs/gguf.md):
 * magic, version, tensor and metadata counts, typed key/value pairs,
 * tensor infos, then aligned data. Q8_0 and Q4_0 block layouts are those
 * model/quant.go writes; the group-wise types are model/GROUPWISE.md's.
 */
#include <stddef.h>
#include <string.h>

#include "tp_rt.h"

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "tp_rt reads weights as little-endian float32 in place: build it for a little-endian target"
#endif

#define MAX_FIELD (1u << 20) /* bound on every architecture figure */
#define UNSEEN 0xffffffffu

void tp_rt_arena_init(tp_rt_arena *a, uint8_t *buf, uint32_t cap)
{
    a->base = buf;
    a->cap = buf ? cap : 0;
    a->used = 0;
    a->peak = 0;
}

void *tp_rt_arena_alloc(tp_rt_arena *a, uint32_t n)
{
    uint32_t start = (a->used + 7u) & ~7u;
    void *p;
    if (start < a->used || start > a->cap || n > a->cap - start)
        return NULL;
    p = a->base + start;
    a->used = start + n;
    if (a->used > a->peak)
        a->peak = a->used;
    return p;
}

/* alloc64 allocates n floats counted in 64 bits. */
static float *alloc_f32(tp_rt_arena *a, uint64_t n)
{
    if (n > 0x3fffffffu)
        return NULL;
    return (float *)tp_rt_arena_alloc(a, (uint32_t)(n * 4u));
}

static uint32_t le32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* check_config range-checks the architecture and fills head_dim. */
static int check_config(tp_rt_config *c)
{
    const uint32_t f[7] = {c->dim, c->hidden, c->layers, c->heads, c->kv_heads, c->vocab, c->seq_len};
    int i;
    for (i = 0; i < 7; i++)
        if (f[i] == 0 || f[i] > MAX_FIELD)
            return TP_RT_ERR_FORMAT;
    if (c->dim % c->heads || c->kv_heads > c->heads || c->heads % c->kv_heads)
        return TP_RT_ERR_FORMAT;
    c->head_dim = c->dim / c->heads;
    if (c->head_dim & 1u) /* RoPE rotates pairs */
        return TP_RT_ERR_UNSUPPORTED;
    return TP_RT_OK;
}

/* ---- Tensor slots, shared by both formats ---- */

/* Slots 0..8 are a layer's tensors (TP_RT_ATTN_NORM..TP_RT_W3), then the
 * model's own; S_ROPE is llama2.c's unused legacy RoPE table. */
enum { S_EMB = 9, S_OUT_NORM, S_CLS, S_ROPE, PER_LAYER = 0x80 };

/* Dimension codes of each slot's row length (in) and row count (out, 0
 * for a vector): 1 dim, 2 hidden, 3 kv_dim, 4 vocab. */
static const uint8_t slot_in[12] = {1, 1, 1, 1, 1, 1, 1, 2, 1, 1, 1, 1};
static const uint8_t slot_out[12] = {0, 1, 3, 3, 1, 0, 2, 1, 2, 4, 0, 4};

static uint64_t dim_of(const tp_rt_config *c, uint8_t code)
{
    switch (code) {
    case 1:
        return c->dim;
    case 2:
        return c->hidden;
    case 3:
        return (uint64_t)c->kv_heads * c->head_dim;
    case 4:
        return c->vocab;
    }
    return 0;
}

static tp_rt_tensor *slot_ptr(tp_rt_model *m, tp_rt_layer *layer, uint32_t s, uint32_t l)
{
    return s < 9 ? &layer[l].t[s] : &m->emb + (s - S_EMB);
}

#ifndef TP_RT_NO_LLAMA2C
/* ---- llama2.c ---- */

/* File orders of export.py: the legacy file (run.c's memory layout) and
 * versions 1 and 2; the classifier follows when it is not shared. */
static const uint8_t order_legacy[] = {S_EMB,
                                       PER_LAYER | TP_RT_ATTN_NORM,
                                       PER_LAYER | TP_RT_WQ,
                                       PER_LAYER | TP_RT_WK,
                                       PER_LAYER | TP_RT_WV,
                                       PER_LAYER | TP_RT_WO,
                                       PER_LAYER | TP_RT_FFN_NORM,
                                       PER_LAYER | TP_RT_W1,
                                       PER_LAYER | TP_RT_W2,
                                       PER_LAYER | TP_RT_W3,
                                       S_OUT_NORM,
                                       S_ROPE};
static const uint8_t order_v1[] = {PER_LAYER | TP_RT_ATTN_NORM,
                                   PER_LAYER | TP_RT_FFN_NORM,
                                   S_OUT_NORM,
                                   S_EMB,
                                   PER_LAYER | TP_RT_WQ,
                                   PER_LAYER | TP_RT_WK,
                                   PER_LAYER | TP_RT_WV,
                                   PER_LAYER | TP_RT_WO,
                                   PER_LAYER | TP_RT_W1,
                                   PER_LAYER | TP_RT_W2,
                                   PER_LAYER | TP_RT_W3};

/* l2c_layout walks the tensors of a llama2.c file in file order and
 * returns the file size they need, 0 if an int8 group does not divide a
 * tensor or they run past len. One tensor adds at most 2^43 bytes, so
 * stopping once past len keeps the sum from wrapping, whatever the header
 * claims. With layer NULL it only measures; the caller stores offsets only
 * after the measured size has matched len. */
static uint64_t l2c_layout(tp_rt_model *m, tp_rt_layer *layer, uint32_t header)
{
    const tp_rt_config *c = &m->c;
    const uint8_t *order = c->version == 0 ? order_legacy : order_v1;
    uint32_t i, n = c->version == 0 ? sizeof order_legacy : sizeof order_v1, l;
    uint64_t off = header;
    for (i = 0; i <= n; i++) {
        uint32_t s = i < n ? order[i] : S_CLS, reps = 1;
        if (s == S_CLS && c->shared)
            break;
        if (off > m->len)
            return 0;
        if (s == S_ROPE) {
            off += 2u * 4u * (uint64_t)c->seq_len * (c->head_dim / 2u);
            continue;
        }
        if (s & PER_LAYER)
            s &= ~(uint32_t)PER_LAYER, reps = c->layers;
        for (l = 0; l < reps; l++) {
            uint64_t e = dim_of(c, slot_in[s]), rows = slot_out[s] ? dim_of(c, slot_out[s]) : 1u;
            tp_rt_tensor t;
            if (off > m->len)
                return 0;
            e *= rows;
            t.off = (uint32_t)off;
            t.soff = 0;
            t.type = TP_RT_F32;
            if (slot_out[s] && c->version == 2) {
                if (e % c->group)
                    return 0;
                t.type = TP_RT_I8G;
                t.soff = (uint32_t)(off + e);
                off += e + 4u * (e / c->group);
            } else {
                off += 4u * e;
            }
            if (layer)
                *slot_ptr(m, layer, s, l) = t;
        }
    }
    if (layer && c->shared)
        m->cls = m->emb;
    return off;
}

static int load_llama2c(tp_rt_model *m, tp_rt_arena *a)
{
    const uint8_t *p = m->data;
    tp_rt_config *c = &m->c;
    uint32_t header, f[7];
    int32_t vocab;
    int i, err;
    if (m->len >= 8 && le32(p) == 0x616b3432u) {
        uint32_t version = le32(p + 4);
        if (version != 1 && version != 2)
            return TP_RT_ERR_UNSUPPORTED;
        if (m->len < 256)
            return TP_RT_ERR_FORMAT;
        c->version = (uint8_t)version;
        header = 256;
        p += 8;
        c->shared = m->data[36] != 0;
        if (version == 2) {
            int32_t g = (int32_t)le32(m->data + 37);
            if (g <= 0 || (uint32_t)g > MAX_FIELD)
                return TP_RT_ERR_FORMAT;
            c->group = (uint32_t)g;
        }
    } else {
        if (m->len < 28)
            return TP_RT_ERR_FORMAT;
        c->version = 0;
        header = 28;
    }
    for (i = 0; i < 7; i++)
        f[i] = le32(p + 4 * i);
    vocab = (int32_t)f[5];
    if (c->version == 0) {
        c->shared = vocab > 0;
        if (vocab < 0 && vocab != INT32_MIN)
            vocab = -vocab;
    }
    if ((int32_t)f[0] <= 0 || vocab <= 0)
        return TP_RT_ERR_FORMAT;
    c->dim = f[0];
    c->hidden = f[1];
    c->layers = f[2];
    c->heads = f[3];
    c->kv_heads = f[4];
    c->vocab = (uint32_t)vocab;
    c->seq_len = f[6];
    c->eps = 1e-5f;
    c->rope_base = 10000.0f;
    c->format = TP_RT_FMT_LLAMA2C;
    err = check_config(c);
    if (err)
        return err;
    if (c->version == 2 && c->dim % c->group)
        return TP_RT_ERR_FORMAT;
    /* Measure in closed form before trusting any offset. */
    if (l2c_layout(m, NULL, header) != m->len)
        return TP_RT_ERR_FORMAT;
    m->layer = (tp_rt_layer *)tp_rt_arena_alloc(a, c->layers * (uint32_t)sizeof(tp_rt_layer));
    if (!m->layer)
        return TP_RT_ERR_ARENA;
    l2c_layout(m, m->layer, header);
    return TP_RT_OK;
}

#endif /* TP_RT_NO_LLAMA2C */

#ifndef TP_RT_NO_GGUF
/* ---- GGUF ---- */

/* The reader works in 32 bits: in a file below 4 GiB, any 64-bit count,
 * length or offset of 2^32 or more is a lie, and rd64 marks it bad. */
typedef struct rd {
    const uint8_t *p;
    uint32_t len, pos;
    int bad;
} rd;

static const uint8_t *take(rd *r, uint32_t n)
{
    const uint8_t *q;
    if (r->bad || n > r->len - r->pos) {
        r->bad = 1;
        return NULL;
    }
    q = r->p + r->pos;
    r->pos += n;
    return q;
}

static uint32_t rd32(rd *r)
{
    const uint8_t *q = take(r, 4);
    return q ? le32(q) : 0;
}

static uint32_t rd64(rd *r)
{
    uint32_t lo = rd32(r);
    if (rd32(r))
        r->bad = 1;
    return lo;
}

static const uint8_t *rdstr(rd *r, uint32_t *n)
{
    *n = rd64(r);
    return take(r, *n);
}

static int streq(const uint8_t *s, uint32_t n, const char *lit)
{
    size_t k = strlen(lit);
    return s && n == k && memcmp(s, lit, k) == 0;
}

enum { GT_F32 = 6, GT_BOOL = 7, GT_STR = 8, GT_ARR = 9, GT_F64 = 12 };
static const uint8_t gt_size[13] = {1, 1, 2, 2, 4, 4, 4, 1, 0, 0, 8, 8, 8};

/* The metadata keys the runtime reads (llama.cpp's names; those before
 * M_ALIGN after "llama."); M_EPS and M_BASE are float32, M_ARCH a string,
 * M_TOKENS an array (its length is the vocabulary), the rest integers. */
enum { M_DIM, M_HIDDEN, M_LAYERS, M_HEADS, M_KV, M_CTX, M_VOCAB, M_ROPE, M_KEY, M_VAL, M_EPS, M_BASE, M_ALIGN, M_ARCH, M_TOKENS, M_N };
static const char *const meta_keys[M_N] = {"embedding_length",
                                           "feed_forward_length",
                                           "block_count",
                                           "attention.head_count",
                                           "attention.head_count_kv",
                                           "context_length",
                                           "vocab_size",
                                           "rope.dimension_count",
                                           "attention.key_length",
                                           "attention.value_length",
                                           "attention.layer_norm_rms_epsilon",
                                           "rope.freq_base",
                                           "general.alignment",
                                           "general.architecture",
                                           "tokenizer.ggml.tokens"};

/* read_kv reads one key/value pair into val (0 = absent) and returns 0,
 * or 1 for a value of the wrong type or range for its key. Arrays are
 * walked, not kept: each string costs at least its 8-byte length, so the
 * walk ends within len/8 rounds whatever the count says. */
static int read_kv(rd *r, uint32_t *val)
{
    uint32_t kn, t, i, n, sz;
    const uint8_t *k = rdstr(r, &kn), *q;
    int key = -1;
    t = rd32(r);
    for (i = 0; k && i < M_N; i++) {
        uint32_t skip = i < M_ALIGN ? 6u : 0u;
        if ((!skip || (kn > 6 && memcmp(k, "llama.", 6) == 0)) && streq(k + skip, kn - skip, meta_keys[i]))
            key = (int)i;
    }
    if (t == GT_STR) {
        q = rdstr(r, &n);
        if (key == M_ARCH)
            val[M_ARCH] = streq(q, n, "llama") ? 1u : 2u;
        return key >= 0 && key != M_ARCH;
    }
    if (t == GT_ARR) {
        uint32_t et = rd32(r);
        n = rd64(r);
        if (et == GT_STR) {
            for (i = 0; i < n && !r->bad; i++)
                rdstr(r, &sz);
        } else if (et < 13 && gt_size[et] && n <= (r->len - r->pos) / gt_size[et]) {
            take(r, n * gt_size[et]);
        } else {
            r->bad = 1;
        }
        if (key == M_TOKENS)
            val[M_TOKENS] = n;
        return key >= 0 && key != M_TOKENS;
    }
    if (t >= 13 || !gt_size[t]) {
        r->bad = 1;
        return 0;
    }
    q = take(r, sz = gt_size[t]);
    if (!q || key < 0)
        return 0;
    if (key == M_EPS || key == M_BASE) {
        val[key] = le32(q);
        return t != GT_F32;
    }
    if (t == GT_F32 || t == GT_F64 || t == GT_BOOL || key == M_ARCH || key == M_TOKENS)
        return 1;
    /* An integer of 1 to 8 bytes: it must fit in 32 bits, and a signed
     * one (odd type id) must not be negative. */
    for (i = sz; i-- > 0;) {
        if (i >= 4 && q[i])
            return 1;
        if (i < 4)
            val[key] = val[key] << 8 | q[i];
    }
    return ((t & 1u) && (q[sz - 1] & 0x80u)) || val[key] == 0 || val[key] > MAX_FIELD;
}

/* slot_names are the GGUF names (llama.cpp's, less ".weight") of the
 * slots: a layer's after "blk.N.", then the model's own. */
static const char *const slot_names[12] = {"attn_norm", "attn_q",     "attn_k",      "attn_v",
                                           "attn_output", "ffn_norm", "ffn_gate",    "ffn_down",
                                           "ffn_up",    "token_embd", "output_norm", "output"};

/* tensor_slot maps a tensor name to its slot and layer; -1 for a tensor
 * the runtime does not use. */
static int tensor_slot(const tp_rt_config *c, const uint8_t *s, uint32_t n, uint32_t *layer)
{
    uint32_t l = 0, i;
    int j, first = 9;
    *layer = 0;
    if (n < 8 || memcmp(s + n - 7, ".weight", 7) != 0)
        return -1;
    n -= 7;
    if (n > 6 && memcmp(s, "blk.", 4) == 0) {
        for (i = 4; i < n && i < 11 && s[i] >= '0' && s[i] <= '9'; i++)
            l = l * 10u + (uint32_t)(s[i] - '0');
        if (i == 4 || i >= n || s[i] != '.' || l >= c->layers)
            return -1;
        *layer = l;
        s += i + 1u, n -= i + 1u, first = 0;
    }
    for (j = first; j < first + (first ? 3 : 9); j++)
        if (streq(s, n, slot_names[j]))
            return j;
    return -1;
}

/* gguf_tensors reads count tensor infos. With layer NULL it checks their
 * form and finds where they end; with the layer table it also checks
 * names, shapes, types and bounds against data_off and records them. */
static int gguf_tensors(tp_rt_model *m, rd *r, uint32_t count, tp_rt_layer *layer, uint32_t data_off)
{
    uint32_t t, nl, dims[4], nd, type, k, l, off;
    for (t = 0; t < count; t++) {
        const uint8_t *name = rdstr(r, &nl);
        uint64_t ne0, ne1, bytes;
        tp_rt_tensor *slot;
        int s;
        if (!name || nl == 0 || nl >= 64)
            return TP_RT_ERR_FORMAT;
        nd = rd32(r);
        if (nd == 0 || nd > 4)
            return TP_RT_ERR_FORMAT;
        for (k = 0; k < 4; k++)
            if ((dims[k] = k < nd ? rd64(r) : 1u) == 0)
                return TP_RT_ERR_FORMAT;
        type = rd32(r);
        off = rd64(r);
        if (r->bad)
            return TP_RT_ERR_FORMAT;
        if (!layer || (s = tensor_slot(&m->c, name, nl, &l)) < 0)
            continue;
        slot = slot_ptr(m, layer, (uint32_t)s, l);
        ne0 = dim_of(&m->c, slot_in[s]);
        ne1 = dim_of(&m->c, slot_out[s]);
        if (slot->type != UNSEEN)
            return TP_RT_ERR_FORMAT; /* duplicate */
        if (dims[0] != ne0 || dims[1] != (ne1 ? ne1 : 1u) || dims[2] != 1 || dims[3] != 1)
            return TP_RT_ERR_FORMAT;
        bytes = ne0 * (ne1 ? ne1 : 1u);
        if (type == TP_RT_F32) {
            bytes *= 4u;
#ifndef TP_RT_NO_GGML_QUANTS
        } else if (type == TP_RT_Q8_0 || type == TP_RT_Q4_0) {
            if (!ne1) /* norms are float32 */
                return TP_RT_ERR_UNSUPPORTED;
            if (ne0 % 32u)
                return TP_RT_ERR_FORMAT;
            bytes = bytes / 32u * (type == TP_RT_Q8_0 ? 34u : 18u);
#endif
#ifndef TP_RT_NO_GROUPWISE
        } else if ((type & 0xffff00f0u) == TP_RT_GW_TAG) {
            uint32_t bits = type >> 8 & 15u, lg = type & 15u, asym = type >> 12 & 15u;
            if (!ne1 || asym > 1u || (bits != 2u && bits != 4u && bits != 8u) || lg < 5u || lg > 8u)
                return TP_RT_ERR_UNSUPPORTED;
            if (ne0 & ((1u << lg) - 1u))
                return TP_RT_ERR_FORMAT;
            bytes = (bytes >> lg) * (2u + 2u * asym + (bits << lg) / 8u);
#endif
        } else {
            return TP_RT_ERR_UNSUPPORTED;
        }
        if (off > m->len - data_off || bytes > m->len - data_off - off)
            return TP_RT_ERR_FORMAT;
        slot->off = data_off + off;
        slot->soff = 0;
        slot->type = type;
    }
    return TP_RT_OK;
}

static float f32_of(uint32_t b)
{
    float f;
    memcpy(&f, &b, 4);
    return f;
}

static int load_gguf(tp_rt_model *m, tp_rt_arena *a)
{
    tp_rt_config *c = &m->c;
    uint32_t val[M_N], nt, nkv, i, tstart, data_off, align, version;
    rd r;
    int err, bad = 0, j;
    r.p = m->data;
    r.len = m->len;
    r.pos = 4;
    r.bad = 0;
    version = rd32(&r);
    if (!r.bad && version != 2 && version != 3)
        return TP_RT_ERR_UNSUPPORTED;
    nt = rd64(&r);
    nkv = rd64(&r);
    memset(val, 0, sizeof val);
    /* Each pair costs at least 12 bytes, so a lying count runs out of
     * bytes within len/12 rounds. */
    for (i = 0; i < nkv && !r.bad; i++)
        bad |= read_kv(&r, val);
    if (r.bad || bad)
        return TP_RT_ERR_FORMAT;
    if (val[M_ARCH] != 1)
        return TP_RT_ERR_UNSUPPORTED;
    c->dim = val[M_DIM];
    c->hidden = val[M_HIDDEN];
    c->layers = val[M_LAYERS];
    c->heads = val[M_HEADS];
    c->kv_heads = val[M_KV] ? val[M_KV] : val[M_HEADS];
    c->vocab = val[M_TOKENS] ? val[M_TOKENS] : val[M_VOCAB]; /* as model.Info: the tokenizer first */
    c->seq_len = val[M_CTX];
    c->eps = val[M_EPS] ? f32_of(val[M_EPS]) : 1e-5f;
    c->rope_base = val[M_BASE] ? f32_of(val[M_BASE]) : 10000.0f;
    c->format = TP_RT_FMT_GGUF;
    c->version = (uint8_t)version;
    align = val[M_ALIGN] ? val[M_ALIGN] : 32u;
    if (!(c->eps > 0.0f && c->eps < 1.0f) || !(c->rope_base >= 1.0f && c->rope_base < 1e30f) || (align & (align - 1u)) ||
        align > 65536u)
        return TP_RT_ERR_FORMAT;
    err = check_config(c);
    if (err)
        return err;
    for (j = M_ROPE; j <= M_VAL; j++)
        if (val[j] && val[j] != c->head_dim)
            return TP_RT_ERR_UNSUPPORTED; /* partial RoPE or odd head sizes */
    tstart = r.pos;
    err = gguf_tensors(m, &r, nt, NULL, 0);
    if (err)
        return err;
    data_off = (r.pos + align - 1u) & ~(align - 1u);
    if (data_off < r.pos || data_off > m->len)
        return TP_RT_ERR_FORMAT;
    m->layer = (tp_rt_layer *)tp_rt_arena_alloc(a, c->layers * (uint32_t)sizeof(tp_rt_layer));
    if (!m->layer)
        return TP_RT_ERR_ARENA;
    memset(m->layer, 0xff, c->layers * sizeof(tp_rt_layer));
    m->emb.type = m->cls.type = m->out_norm.type = UNSEEN;
    r.pos = tstart;
    err = gguf_tensors(m, &r, nt, m->layer, data_off);
    if (err)
        return err;
    if (m->emb.type == UNSEEN || m->out_norm.type == UNSEEN)
        return TP_RT_ERR_FORMAT;
    c->shared = m->cls.type == UNSEEN;
    if (c->shared)
        m->cls = m->emb;
    for (i = 0; i < c->layers; i++)
        for (j = 0; j < 9; j++)
            if (m->layer[i].t[j].type == UNSEEN)
                return TP_RT_ERR_FORMAT;
    return TP_RT_OK;
}
#endif /* TP_RT_NO_GGUF */

/* ---- Common ---- */

static uint32_t sat_add(uint32_t a, uint64_t b)
{
    uint64_t s = (uint64_t)a + b;
    return s > 0xffffffffu ? 0xffffffffu : (uint32_t)s;
}

/* buf_off lists the model's arena buffers, in allocation order. */
static const uint8_t buf_off[13] = {
    offsetof(tp_rt_model, x),    offsetof(tp_rt_model, xb),     offsetof(tp_rt_model, xb2),  offsetof(tp_rt_model, q),
    offsetof(tp_rt_model, hb),   offsetof(tp_rt_model, hb2),    offsetof(tp_rt_model, att),  offsetof(tp_rt_model, logits),
    offsetof(tp_rt_model, freq), offsetof(tp_rt_model, rcos),   offsetof(tp_rt_model, rsin), offsetof(tp_rt_model, kc),
    offsetof(tp_rt_model, vc)};

int tp_rt_load(tp_rt_model *m, const uint8_t *data, uint32_t len, tp_rt_arena *a, uint32_t ctx_max)
{
    tp_rt_config *c;
    uint64_t kvn, d, h, kv;
    uint32_t i, half;
    float lnb;
    int err;
    memset(m, 0, sizeof *m);
    tp_rt_arena_init(a, a->base, a->cap);
    if (!data)
        return TP_RT_ERR_NO_MODEL;
    m->data = data;
    m->len = len;
    c = &m->c;
    if (len >= 4 && memcmp(data, "GGUF", 4) == 0)
#ifndef TP_RT_NO_GGUF
        err = load_gguf(m, a);
#else
        err = TP_RT_ERR_UNSUPPORTED;
#endif
    else
#ifndef TP_RT_NO_LLAMA2C
        err = load_llama2c(m, a);
#else
        err = TP_RT_ERR_UNSUPPORTED;
#endif
    if (err)
        return err;
    m->ctx = ctx_max && ctx_max < c->seq_len ? ctx_max : c->seq_len;
    d = c->dim, h = c->hidden, kv = (uint64_t)c->kv_heads * c->head_dim;
    half = c->head_dim / 2u;
    kvn = (uint64_t)c->layers * m->ctx * kv;
    for (i = 0; i < 13; i++) {
        static const uint8_t code[13] = {1, 1, 1, 1, 2, 2, 5, 4, 6, 6, 6, 7, 7};
        const uint64_t n[8] = {0, d, h, kv, c->vocab, m->ctx, half, kvn};
        float **p = (float **)(void *)((uint8_t *)m + buf_off[i]);
        *p = alloc_f32(a, n[code[i]]);
        if (!*p)
            return TP_RT_ERR_ARENA;
    }
    m->kv_bytes = (uint32_t)(2u * kvn * 4u);
    /* theta_i = base^(-2i/head_dim) = exp(-(2i/head_dim) ln base). */
    lnb = tp_rt_logf(c->rope_base);
    for (i = 0; i < half; i++)
        m->freq[i] = tp_rt_expf(-(((float)(2u * i) / (float)c->head_dim) * lnb));
    m->params = sat_add(0, (uint64_t)c->layers * (2u * d + 2u * d * kv + 2u * d * d + 3u * d * h));
    m->params = sat_add(m->params, d + (c->shared ? 1u : 2u) * d * c->vocab);
    m->arena_mark = a->used;
    return TP_RT_OK;
}
