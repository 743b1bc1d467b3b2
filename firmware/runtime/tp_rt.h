/*
 * tp_rt.h - tinyprof's llama inference runtime (C99, no heap).
 *
 * The weights stay where the caller put them (flash or an upload buffer)
 * and are read in place; every other byte - the layer table, activations,
 * KV cache, RoPE table and sampler scratch - comes from one caller-given
 * arena. Floating point is deterministic: build with -ffp-contract=off,
 * and the runtime uses its own exp, log, sqrt, sin and cos (tp_rt_math.c),
 * so a host build, a Cortex-M build and the Go twin (model/llama) produce
 * the same floats bit for bit. README.md states the rules.
 */
#ifndef TP_RT_H
#define TP_RT_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Result codes. Zero is success; every loader check maps to one of these. */
enum {
    TP_RT_OK = 0,
    TP_RT_ERR_FORMAT = 1,      /* malformed, truncated or inconsistent file */
    TP_RT_ERR_UNSUPPORTED = 2, /* well formed, but a type/arch/version we do not run */
    TP_RT_ERR_ARENA = 3,       /* the arena is too small for this model and context */
    TP_RT_ERR_ARG = 4,         /* a bad argument: token, position, prompt too long */
    TP_RT_ERR_NO_MODEL = 5
};

/* Weight encodings the runtime reads. The first three are ggml type ids. */
enum {
    TP_RT_F32 = 0,
    TP_RT_Q4_0 = 2,
    TP_RT_Q8_0 = 8,
    TP_RT_I8G = 100 /* llama2.c v2: int8 values, then float32 scales per group */
};

/* TP_RT_GW_TAG is the top half of tinyprof's group-wise type ids
 * (model/GROUPWISE.md): id = TP_RT_GW_TAG | asym << 12 | bits << 8 |
 * log2(group), bits 2, 4 or 8, group 32..256. A build with
 * -DTP_RT_NO_GROUPWISE refuses them with TP_RT_ERR_UNSUPPORTED. */
#define TP_RT_GW_TAG 0x47570000u

/* The group-wise types live in GGUF files: a build without GGUF has none.
 * -DTP_RT_NO_GGML_QUANTS leaves out Q8_0 and Q4_0, so that with
 * -DTP_RT_NO_LLAMA2C a board that runs only group-wise models pays only
 * for their kernel. */
#if defined(TP_RT_NO_GGUF) && !defined(TP_RT_NO_GROUPWISE)
#define TP_RT_NO_GROUPWISE
#endif

/* tp_rt_arena is a bump allocator over caller memory. peak is the
 * high-water mark of used since tp_rt_arena_init. */
typedef struct tp_rt_arena {
    uint8_t *base;
    uint32_t cap, used, peak;
} tp_rt_arena;

void tp_rt_arena_init(tp_rt_arena *a, uint8_t *buf, uint32_t cap);
/* tp_rt_arena_alloc returns n bytes aligned to 8, or NULL if they do not fit. */
void *tp_rt_arena_alloc(tp_rt_arena *a, uint32_t n);

/* tp_rt_tensor is one weight: an offset into the model bytes and its
 * encoding. For TP_RT_I8G, soff is the offset of its float32 scales. */
typedef struct tp_rt_tensor {
    uint32_t off, soff;
    uint32_t type;
} tp_rt_tensor;

/* A layer's tensors, indexed by TP_RT_ATTN_NORM..TP_RT_W3 (w1 is the
 * gate, w2 the down and w3 the up projection of the feed-forward net). */
enum { TP_RT_ATTN_NORM, TP_RT_WQ, TP_RT_WK, TP_RT_WV, TP_RT_WO, TP_RT_FFN_NORM, TP_RT_W1, TP_RT_W2, TP_RT_W3 };

typedef struct tp_rt_layer {
    tp_rt_tensor t[9];
} tp_rt_layer;

/* tp_rt_config is the architecture read from the file. */
typedef struct tp_rt_config {
    uint32_t dim, hidden, layers, heads, kv_heads, vocab, seq_len, head_dim;
    uint32_t group;  /* llama2.c v2 group size, else 0 */
    float eps;       /* RMSNorm epsilon (1e-5 for llama2.c) */
    float rope_base; /* RoPE frequency base (10000 for llama2.c) */
    uint8_t shared;  /* classifier is the token embedding */
    uint8_t format;  /* TP_RT_FMT_* */
    uint8_t version; /* llama2.c 0/1/2, or the GGUF version */
} tp_rt_config;

enum { TP_RT_FMT_LLAMA2C = 1, TP_RT_FMT_GGUF = 2 };

/* tp_rt_model is a loaded model and its run state. All pointers except
 * data point into the arena. */
typedef struct tp_rt_model {
    const uint8_t *data;
    uint32_t len;
    tp_rt_config c;
    uint32_t ctx;        /* positions the KV cache holds */
    uint32_t params;     /* parameter count (saturating) */
    uint32_t kv_bytes;   /* bytes of key plus value cache */
    uint32_t arena_mark; /* arena use after loading: generation scratch sits above */
    tp_rt_tensor emb, out_norm, cls; /* in this order */
    tp_rt_layer *layer;
    float *x, *xb, *xb2, *q, *hb, *hb2, *att, *logits;
    float *kc, *vc;       /* [layer][pos][kv_dim] */
    float *freq;          /* head_dim/2 RoPE frequencies */
    float *rcos, *rsin;   /* the current position's rotations */
} tp_rt_model;

/* tp_rt_load parses the model at data[0:len) (llama2.c legacy, v1 or v2
 * checkpoint, or GGUF v2/v3 llama with F32, Q8_0, Q4_0 or group-wise
 * tensors), checks
 * every size against len, and takes the layer table, activations and KV
 * cache for ctx_max positions (0: the model's seq_len; larger is clamped
 * to it) from the arena, which it resets first. data must stay valid and
 * unchanged while the model is used. It returns TP_RT_OK or an error code;
 * on error m is unusable. */
int tp_rt_load(tp_rt_model *m, const uint8_t *data, uint32_t len, tp_rt_arena *a, uint32_t ctx_max);

/* tp_rt_forward runs token at position pos (pos < m->ctx, positions in
 * order from 0) and leaves the next-token logits in m->logits. */
int tp_rt_forward(tp_rt_model *m, uint32_t token, uint32_t pos);

/* tp_rt_rng is xorshift32 (Marsaglia 2003); see README.md. */
typedef struct tp_rt_rng {
    uint32_t s;
} tp_rt_rng;

void tp_rt_rng_seed(tp_rt_rng *r, uint32_t seed);
uint32_t tp_rt_rng_next(tp_rt_rng *r);
/* tp_rt_rng_float returns a float in [0, 1) from the top 24 bits. */
float tp_rt_rng_float(tp_rt_rng *r);

/* tp_rt_sampler picks tokens from logits. temperature 0 is greedy; top_p
 * outside (0, 1) and top_k 0 are off. cand is vocab entries of scratch,
 * needed only when top_p or top_k is on (tp_rt_sampler_init takes it from
 * the arena). */
typedef struct tp_rt_cand {
    float p;
    uint32_t id;
} tp_rt_cand;

typedef struct tp_rt_sampler {
    float temperature, top_p;
    uint32_t top_k;
    tp_rt_rng rng;
    tp_rt_cand *cand;
} tp_rt_sampler;

int tp_rt_sampler_init(tp_rt_sampler *s, tp_rt_arena *a, uint32_t vocab, float temperature, float top_p, uint32_t top_k, uint32_t seed);
/* tp_rt_sample returns the chosen token; it overwrites logits. */
uint32_t tp_rt_sample(tp_rt_sampler *s, float *logits, uint32_t vocab);

/* tp_rt_gen is one generation: the prompt is prefilled by tp_rt_gen_start,
 * then each tp_rt_gen_step computes the logits of the next token (1), or
 * returns 0 when the context is full, and tp_rt_gen_sample picks it. */
typedef struct tp_rt_gen {
    tp_rt_sampler s;
    uint32_t pos;     /* positions in the KV cache */
    uint32_t pending; /* last sampled token, not yet run */
    uint32_t prompt_tokens;
    uint8_t fresh; /* logits are those of the last prompt token */
} tp_rt_gen;

/* tp_rt_gen_start frees the previous generation's scratch, takes the
 * sampler's from the arena (TP_RT_ERR_ARENA if it does not fit), and runs
 * BOS plus the n prompt bytes (TP_RT_ERR_ARG if they exceed the context). */
int tp_rt_gen_start(tp_rt_gen *g, tp_rt_model *m, tp_rt_arena *a, const uint8_t *prompt, uint32_t n, float temperature,
                    float top_p, uint32_t top_k, uint32_t seed);
int tp_rt_gen_step(tp_rt_gen *g, tp_rt_model *m);
uint32_t tp_rt_gen_sample(tp_rt_gen *g, tp_rt_model *m);
/* tp_rt_gen_next is step then sample: 1 and *token, or 0 when full. */
int tp_rt_gen_next(tp_rt_gen *g, tp_rt_model *m, uint32_t *token);

/* tp_rt_prompt_token returns the token of prompt byte i (i = 0 is BOS):
 * BOS is 1 % vocab, byte b is b % vocab. */
uint32_t tp_rt_prompt_token(const uint8_t *prompt, uint32_t i, uint32_t vocab);

/* tp_rt_softmax replaces x[0:n) by exp(x - max) / sum, summed in index
 * order (the attention weights and the sampler's probabilities). */
void tp_rt_softmax(float *x, uint32_t n);

/* Math (tp_rt_math.c): the runtime's own, portable and deterministic. */
float tp_rt_expf(float x);
float tp_rt_logf(float x);
float tp_rt_sqrtf(float x);
void tp_rt_sincosf(float a, float *s, float *c);
float tp_rt_half(uint16_t h);

#ifdef __cplusplus
}
#endif
#endif
