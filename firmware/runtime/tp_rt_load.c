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
 * model/quant.go writes.
 */
#include <string.h>

#include "tp_rt.h"

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

static uint64_t le64(const uint8_t *p)
{
    return (uint64_t)le32(p) | (uint64_t)le32(p + 4) << 32;
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
 * tensor. With layer NULL it only measures; it stores offsets only when
 * the caller has checked that the size fits in 32 bits. */
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
        if (s == S_ROPE) {
            off += 2u * 4u * (uint64_t)c->seq_len * (c->head_dim / 2u);
            continue;
        }
        if (s & PER_LAYER)
            s &= ~(uint32_t)PER_LAYER, reps = c->layers;
        for (l = 0; l < reps; l++) {
            uint64_t e = dim_of(c, slot_in[s]), rows = slot_out[s] ? dim_of(c, slot_out[s]) : 1u;
            tp_rt_tensor t;
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

/* ---- GGUF ---- */

typedef struct rd {
    const uint8_t *p;
    uint32_t len, pos;
    int bad;
} rd;

static const uint8_t *take(rd *r, uint64_t n)
{
    const uint8_t *q;
    if (r->bad || n > r->len - r->pos) {
        r->bad = 1;
        return NULL;
    }
    q = r->p + r->pos;
    r->pos += (uint32_t)n;
    return q;
}

static uint32_t rd32(rd *r)
{
    const uint8_t *q = take(r, 4);
    return q ? le32(q) : 0;
}

static uint64_t rd64(rd *r)
{
    const uint8_t *q = take(r, 8);
    return q ? le64(q) : 0;
}

/* rdstr reads a GGUF string and returns its bytes (NULL when malformed). */
static const uint8_t *rdstr(rd *r, uint64_t *n)
{
    *n = rd64(r);
    return take(r, *n);
}

static int streq(const uint8_t *s, uint64_t n, const char *lit)
{
    size_t k = strlen(lit);
    return s && n == k && memcmp(s, lit, k) == 0;
}

enum { GT_U8, GT_I8, GT_U16, GT_I16, GT_U32, GT_I32, GT_F32, GT_BOOL, GT_STR, GT_ARR, GT_U64, GT_I64, GT_F64 };
static const uint8_t gt_size[13] = {1, 1, 2, 2, 4, 4, 4, 1, 0, 0, 8, 8, 8};

/* scalar is one decoded metadata value. */
typedef struct scalar {
    uint64_t u; /* integer value, if int_ok */
    float f;    /* float32 value, if type is F32 */
    int int_ok; /* a non-negative integer of any width */
    uint32_t type;
    uint64_t arr_len; /* array length, for arrays */
    const uint8_t *s; /* string bytes, for strings */
    uint64_t slen;
} scalar;

/* read_value reads a value of type t; arrays are walked, not kept. */
static void read_value(rd *r, uint32_t t, scalar *v)
{
    const uint8_t *q;
    memset(v, 0, sizeof *v);
    v->type = t;
    if (t == GT_STR) {
        v->s = rdstr(r, &v->slen);
        return;
    }
    if (t == GT_ARR) {
        uint32_t et = rd32(r);
        uint64_t n = rd64(r), i;
        v->arr_len = n;
        if (et == GT_STR) {
            /* Each string costs at least its 8-byte length, so the loop
             * ends within len/8 rounds on any input. */
            for (i = 0; i < n && !r->bad; i++) {
                uint64_t sl;
                rdstr(r, &sl);
            }
        } else if (et < 13 && gt_size[et]) {
            if (n > (uint64_t)(r->len - r->pos) / gt_size[et])
                r->bad = 1;
            else
                take(r, n * gt_size[et]);
        } else {
            r->bad = 1; /* nested or unknown */
        }
        return;
    }
    if (t >= 13 || !gt_size[t]) {
        r->bad = 1;
        return;
    }
    q = take(r, gt_size[t]);
    if (!q)
        return;
    if (t == GT_F32) {
        uint32_t b = le32(q);
        memcpy(&v->f, &b, 4);
    } else if (t != GT_F64) {
        /* An integer (or bool) of 1 to 8 bytes; the signed types have odd
         * ids and are integers here only when not negative. */
        int k;
        for (k = gt_size[t]; k-- > 0;)
            v->u = v->u << 8 | q[k];
        v->int_ok = !((t & 1u) && t != GT_BOOL && (q[gt_size[t] - 1] & 0x80u));
    }
}

/* meta collects the keys the runtime needs. */
typedef struct meta {
    uint64_t dim, hidden, layers, heads, kv_heads, ctx, vocab, rope_dims, key_len, val_len, align;
    float eps, base;
    int arch_llama, arch_other, bad_type;
} meta;

/* set_int stores an integer key, flagging a non-integer value. */
static void set_int(meta *mt, uint64_t *dst, const scalar *v)
{
    if (!v->int_ok || v->u == 0 || v->u > MAX_FIELD)
        mt->bad_type = 1;
    else
        *dst = v->u;
}

static void on_kv(meta *mt, const uint8_t *k, uint64_t kn, const scalar *v)
{
    static const char *const ints[] = {"llama.embedding_length", "llama.feed_forward_length", "llama.block_count",
                                       "llama.attention.head_count", "llama.attention.head_count_kv",
                                       "llama.context_length", "llama.vocab_size", "llama.rope.dimension_count",
                                       "llama.attention.key_length", "llama.attention.value_length"};
    uint64_t *dst[10];
    int i;
    dst[0] = &mt->dim, dst[1] = &mt->hidden, dst[2] = &mt->layers, dst[3] = &mt->heads, dst[4] = &mt->kv_heads;
    dst[5] = &mt->ctx, dst[6] = &mt->vocab, dst[7] = &mt->rope_dims, dst[8] = &mt->key_len, dst[9] = &mt->val_len;
    for (i = 0; i < 10; i++)
        if (streq(k, kn, ints[i])) {
            set_int(mt, dst[i], v);
            return;
        }
    if (streq(k, kn, "general.architecture")) {
        if (v->type != GT_STR)
            mt->bad_type = 1;
        else if (streq(v->s, v->slen, "llama"))
            mt->arch_llama = 1;
        else
            mt->arch_other = 1;
    } else if (streq(k, kn, "general.alignment")) {
        if (v->type != GT_U32 || v->u == 0 || (v->u & (v->u - 1)) || v->u > 65536)
            mt->bad_type = 1;
        else
            mt->align = v->u;
    } else if (streq(k, kn, "llama.attention.layer_norm_rms_epsilon")) {
        if (v->type != GT_F32 || !(v->f > 0.0f && v->f < 1.0f))
            mt->bad_type = 1;
        else
            mt->eps = v->f;
    } else if (streq(k, kn, "llama.rope.freq_base")) {
        if (v->type != GT_F32 || !(v->f >= 1.0f && v->f < 1e30f))
            mt->bad_type = 1;
        else
            mt->base = v->f;
    } else if (streq(k, kn, "tokenizer.ggml.tokens")) {
        if (v->type != GT_ARR || v->arr_len == 0 || v->arr_len > MAX_FIELD)
            mt->bad_type = 1;
        else if (!mt->vocab)
            mt->vocab = v->arr_len;
    }
}

/* slot_names are the GGUF names (llama.cpp's) of the slots: a layer's
 * after "blk.N.", then the model's own. */
static const char *const slot_names[12] = {"attn_norm.weight", "attn_q.weight",     "attn_k.weight",   "attn_v.weight",
                                           "attn_output.weight", "ffn_norm.weight", "ffn_gate.weight", "ffn_down.weight",
                                           "ffn_up.weight",    "token_embd.weight", "output_norm.weight",
                                           "output.weight"};

/* tensor_slot maps a tensor name to its slot and layer; -1 for a tensor
 * the runtime does not use. */
static int tensor_slot(const tp_rt_config *c, const uint8_t *s, uint64_t n, uint32_t *layer)
{
    uint64_t l = 0, i;
    int j, first = 9;
    *layer = 0;
    if (n > 6 && memcmp(s, "blk.", 4) == 0) {
        for (i = 4; i < n && i < 12 && s[i] >= '0' && s[i] <= '9'; i++)
            l = l * 10u + (uint64_t)(s[i] - '0');
        if (i == 4 || i >= n || s[i] != '.' || l >= c->layers)
            return -1;
        *layer = (uint32_t)l;
        s += i + 1u, n -= i + 1u, first = 0;
    }
    for (j = first; j < first + (first ? 3 : 9); j++)
        if (streq(s, n, slot_names[j]))
            return j;
    return -1;
}

/* gguf_tensors reads the tensor infos. With layer NULL it checks their
 * form and finds where they end; with the layer table it also checks
 * names, shapes, types and bounds against data_off and records them. */
static int gguf_tensors(tp_rt_model *m, rd *r, uint64_t count, tp_rt_layer *layer, uint64_t data_off)
{
    uint64_t t;
    for (t = 0; t < count; t++) {
        uint64_t nl, dims[4] = {1, 1, 1, 1}, off, elems, bytes, ne0, ne1;
        const uint8_t *name = rdstr(r, &nl);
        uint32_t nd, type, k, l;
        tp_rt_tensor *slot;
        int s;
        if (!name || nl == 0 || nl >= 64)
            return TP_RT_ERR_FORMAT;
        nd = rd32(r);
        if (nd == 0 || nd > 4)
            return TP_RT_ERR_FORMAT;
        for (k = 0; k < nd; k++) {
            dims[k] = rd64(r);
            if (dims[k] == 0 || dims[k] > (1ull << 32))
                return TP_RT_ERR_FORMAT;
        }
        type = rd32(r);
        off = rd64(r);
        if (r->bad)
            return TP_RT_ERR_FORMAT;
        if (!layer)
            continue;
        s = tensor_slot(&m->c, name, nl, &l);
        if (s < 0)
            continue;
        slot = slot_ptr(m, layer, (uint32_t)s, l);
        ne0 = dim_of(&m->c, slot_in[s]);
        ne1 = dim_of(&m->c, slot_out[s]);
        if (slot->type != UNSEEN)
            return TP_RT_ERR_FORMAT; /* duplicate */
        if (dims[0] != ne0 || dims[1] != (ne1 ? ne1 : 1) || dims[2] != 1 || dims[3] != 1)
            return TP_RT_ERR_FORMAT;
        elems = dims[0] * dims[1];
        switch (type) {
        case TP_RT_F32:
            bytes = 4u * elems;
            break;
        case TP_RT_Q8_0:
        case TP_RT_Q4_0:
            if (!ne1) /* norms are float32 */
                return TP_RT_ERR_UNSUPPORTED;
            if (dims[0] % 32u)
                return TP_RT_ERR_FORMAT;
            bytes = elems / 32u * (type == TP_RT_Q8_0 ? 34u : 18u);
            break;
        default:
            return TP_RT_ERR_UNSUPPORTED;
        }
        if (off > m->len || data_off + off > m->len || bytes > m->len - data_off - off)
            return TP_RT_ERR_FORMAT;
        slot->off = (uint32_t)(data_off + off);
        slot->soff = 0;
        slot->type = type;
    }
    return TP_RT_OK;
}

static int load_gguf(tp_rt_model *m, tp_rt_arena *a)
{
    tp_rt_config *c = &m->c;
    rd r;
    meta mt;
    uint64_t nt, nkv, i, data_off;
    uint32_t version, tstart, l;
    int err;
    r.p = m->data;
    r.len = m->len;
    r.pos = 4;
    r.bad = 0;
    version = rd32(&r);
    if (r.bad)
        return TP_RT_ERR_FORMAT;
    if (version != 2 && version != 3)
        return TP_RT_ERR_UNSUPPORTED;
    nt = rd64(&r);
    nkv = rd64(&r);
    memset(&mt, 0, sizeof mt);
    mt.eps = 1e-5f;
    mt.base = 10000.0f;
    mt.align = 32;
    /* Each pair costs at least 12 bytes, so a lying count fails by
     * running out of bytes within len/12 rounds. */
    for (i = 0; i < nkv && !r.bad; i++) {
        uint64_t kn;
        const uint8_t *k = rdstr(&r, &kn);
        uint32_t t = rd32(&r);
        scalar v;
        if (r.bad)
            break;
        read_value(&r, t, &v);
        if (!r.bad)
            on_kv(&mt, k, kn, &v);
    }
    if (r.bad || mt.bad_type)
        return TP_RT_ERR_FORMAT;
    if (mt.arch_other || !mt.arch_llama)
        return TP_RT_ERR_UNSUPPORTED;
    if (!mt.dim || !mt.hidden || !mt.layers || !mt.heads || !mt.ctx || !mt.vocab)
        return TP_RT_ERR_FORMAT;
    c->dim = (uint32_t)mt.dim;
    c->hidden = (uint32_t)mt.hidden;
    c->layers = (uint32_t)mt.layers;
    c->heads = (uint32_t)mt.heads;
    c->kv_heads = (uint32_t)(mt.kv_heads ? mt.kv_heads : mt.heads);
    c->vocab = (uint32_t)mt.vocab;
    c->seq_len = (uint32_t)mt.ctx;
    c->eps = mt.eps;
    c->rope_base = mt.base;
    c->format = TP_RT_FMT_GGUF;
    c->version = (uint8_t)version;
    err = check_config(c);
    if (err)
        return err;
    if ((mt.rope_dims && mt.rope_dims != c->head_dim) || (mt.key_len && mt.key_len != c->head_dim) ||
        (mt.val_len && mt.val_len != c->head_dim))
        return TP_RT_ERR_UNSUPPORTED; /* partial RoPE or odd head sizes */
    tstart = r.pos;
    err = gguf_tensors(m, &r, nt, NULL, 0);
    if (err)
        return err;
    data_off = ((uint64_t)r.pos + mt.align - 1u) & ~(mt.align - 1u);
    if (data_off > m->len)
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
    for (l = 0; l < c->layers; l++) {
        int j;
        for (j = 0; j < 9; j++)
            if (m->layer[l].t[j].type == UNSEEN)
                return TP_RT_ERR_FORMAT;
    }
    return TP_RT_OK;
}

/* ---- Common ---- */

static uint32_t sat_add(uint32_t a, uint64_t b)
{
    uint64_t s = (uint64_t)a + b;
    return s > 0xffffffffu ? 0xffffffffu : (uint32_t)s;
}

int tp_rt_load(tp_rt_model *m, const uint8_t *data, uint32_t len, tp_rt_arena *a, uint32_t ctx_max)
{
    const uint32_t one = 1;
    tp_rt_config *c;
    uint64_t kvn, d, h, kv;
    uint32_t i, half;
    float lnb;
    int err;
    memset(m, 0, sizeof *m);
    tp_rt_arena_init(a, a->base, a->cap);
    if (!data)
        return TP_RT_ERR_NO_MODEL;
    if (*(const uint8_t *)&one != 1) /* weights are little-endian floats */
        return TP_RT_ERR_UNSUPPORTED;
    m->data = data;
    m->len = len;
    c = &m->c;
    if (len >= 4 && memcmp(data, "GGUF", 4) == 0)
        err = load_gguf(m, a);
    else
        err = load_llama2c(m, a);
    if (err)
        return err;
    m->ctx = ctx_max && ctx_max < c->seq_len ? ctx_max : c->seq_len;
    d = c->dim, h = c->hidden, kv = (uint64_t)c->kv_heads * c->head_dim;
    half = c->head_dim / 2u;
    kvn = (uint64_t)c->layers * m->ctx * kv;
    m->x = alloc_f32(a, d);
    m->xb = alloc_f32(a, d);
    m->xb2 = alloc_f32(a, d);
    m->q = alloc_f32(a, d);
    m->hb = alloc_f32(a, h);
    m->hb2 = alloc_f32(a, h);
    m->att = alloc_f32(a, m->ctx);
    m->logits = alloc_f32(a, c->vocab);
    m->freq = alloc_f32(a, half);
    m->rcos = alloc_f32(a, half);
    m->rsin = alloc_f32(a, half);
    m->kc = alloc_f32(a, kvn);
    m->vc = alloc_f32(a, kvn);
    if (!m->x || !m->xb || !m->xb2 || !m->q || !m->hb || !m->hb2 || !m->att || !m->logits || !m->freq || !m->rcos ||
        !m->rsin || !m->kc || !m->vc)
        return TP_RT_ERR_ARENA;
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
