//go:build ignore

// The line above keeps the Go tool from treating this directory as a cgo
// package; the tests build this file with the system C compiler.

/*
 * tp_rt_sample.c - token sampling and the generation loop.
 *
 * The random numbers are xorshift32 (G. Marsaglia, "Xorshift RNGs",
 * J. Stat. Softw. 8(14), 2003; shifts 13, 17, 5), seeded with
 * seed ^ 0x9E3779B9 (0 mapped to 0x6D2B79F5), and a uniform float is the
 * top 24 bits times 2^-24. README.md gives the sampling rule step by step.
 */
#include "tp_rt.h"

void tp_rt_rng_seed(tp_rt_rng *r, uint32_t seed)
{
    r->s = seed ^ 0x9E3779B9u;
    if (r->s == 0)
        r->s = 0x6D2B79F5u;
}

uint32_t tp_rt_rng_next(tp_rt_rng *r)
{
    uint32_t x = r->s;
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    r->s = x;
    return x;
}

float tp_rt_rng_float(tp_rt_rng *r)
{
    return (float)(tp_rt_rng_next(r) >> 8) * 0x1p-24f;
}

static int truncating(const tp_rt_sampler *s)
{
    return s->top_k > 0 || (s->top_p > 0.0f && s->top_p < 1.0f);
}

int tp_rt_sampler_init(tp_rt_sampler *s, tp_rt_arena *a, uint32_t vocab, float temperature, float top_p, uint32_t top_k,
                       uint32_t seed)
{
    s->temperature = temperature > 0.0f ? temperature : 0.0f;
    s->top_p = top_p;
    s->top_k = top_k;
    s->cand = 0;
    tp_rt_rng_seed(&s->rng, seed);
    if (s->temperature > 0.0f && truncating(s)) {
        /* vocab <= 2^20 (tp_rt_load checks), so this cannot overflow. */
        s->cand = (tp_rt_cand *)tp_rt_arena_alloc(a, vocab * (uint32_t)sizeof(tp_rt_cand));
        if (!s->cand)
            return TP_RT_ERR_ARENA;
    }
    return TP_RT_OK;
}

/* later reports that a ranks after b: lower probability, or equal
 * probability and a higher id. The order is total, so any correct sort
 * (the Go twin uses its library's) gives the same sequence. */
static int later(const tp_rt_cand *a, const tp_rt_cand *b)
{
    return a->p < b->p || (a->p == b->p && a->id > b->id);
}

static void sift(tp_rt_cand *c, uint32_t i, uint32_t n)
{
    for (;;) {
        uint32_t k = 2u * i + 1u;
        tp_rt_cand t;
        if (k >= n)
            return;
        if (k + 1u < n && later(&c[k + 1u], &c[k]))
            k++;
        if (!later(&c[k], &c[i]))
            return;
        t = c[i], c[i] = c[k], c[k] = t;
        i = k;
    }
}

/* rank sorts c best first with heapsort: no recursion, no extra memory. */
static void rank(tp_rt_cand *c, uint32_t n)
{
    uint32_t i;
    for (i = n / 2u; i-- > 0;)
        sift(c, i, n);
    for (i = n; i-- > 1;) {
        tp_rt_cand t = c[0];
        c[0] = c[i], c[i] = t;
        sift(c, 0, i);
    }
}

static uint32_t argmax(const float *x, uint32_t n)
{
    uint32_t i, best = 0;
    for (i = 1; i < n; i++)
        if (x[i] > x[best])
            best = i;
    return best;
}

uint32_t tp_rt_sample(tp_rt_sampler *s, float *x, uint32_t n)
{
    float sum, u, cdf = 0.0f;
    uint32_t i, keep;
    if (s->temperature <= 0.0f)
        return argmax(x, n);
    for (i = 0; i < n; i++)
        x[i] = x[i] / s->temperature;
    tp_rt_softmax(x, n);
    keep = n;
    if (s->cand) {
        for (i = 0; i < n; i++) {
            s->cand[i].p = x[i];
            s->cand[i].id = i;
        }
        rank(s->cand, n);
        if (s->top_k > 0 && s->top_k < n)
            keep = s->top_k;
        if (s->top_p > 0.0f && s->top_p < 1.0f) {
            for (i = 0; i < keep; i++) {
                cdf += s->cand[i].p;
                if (cdf > s->top_p) {
                    keep = i + 1u;
                    break;
                }
            }
        }
    }
    /* u times the kept mass picks the first token whose running sum
     * passes it: in id order, or in rank order when truncated. */
    sum = 0.0f;
    for (i = 0; i < keep; i++)
        sum += s->cand ? s->cand[i].p : x[i];
    u = tp_rt_rng_float(&s->rng) * sum;
    cdf = 0.0f;
    for (i = 0; i < keep; i++) {
        cdf += s->cand ? s->cand[i].p : x[i];
        if (u < cdf)
            break;
    }
    if (i == keep)
        i = keep - 1u;
    return s->cand ? s->cand[i].id : i;
}

uint32_t tp_rt_prompt_token(const uint8_t *prompt, uint32_t i, uint32_t vocab)
{
    return (i == 0 ? 1u : prompt[i - 1u]) % vocab;
}

int tp_rt_gen_start(tp_rt_gen *g, tp_rt_model *m, tp_rt_arena *a, const uint8_t *prompt, uint32_t n, float temperature,
                    float top_p, uint32_t top_k, uint32_t seed)
{
    uint32_t i;
    int err;
    g->pos = 0;
    g->fresh = 0;
    g->prompt_tokens = 0;
    if (!m->data)
        return TP_RT_ERR_NO_MODEL;
    if (n >= m->ctx)
        return TP_RT_ERR_ARG; /* BOS plus n tokens must fit */
    a->used = m->arena_mark;
    err = tp_rt_sampler_init(&g->s, a, m->c.vocab, temperature, top_p, top_k, seed);
    if (err)
        return err;
    for (i = 0; i <= n; i++) {
        err = tp_rt_forward(m, tp_rt_prompt_token(prompt, i, m->c.vocab), i);
        if (err)
            return err;
    }
    g->pos = n + 1u;
    g->prompt_tokens = n + 1u;
    g->fresh = 1;
    return TP_RT_OK;
}

int tp_rt_gen_step(tp_rt_gen *g, tp_rt_model *m)
{
    if (g->fresh) {
        g->fresh = 0;
        return 1;
    }
    if (g->prompt_tokens == 0 || g->pos >= m->ctx)
        return 0;
    if (tp_rt_forward(m, g->pending, g->pos) != TP_RT_OK)
        return 0;
    g->pos++;
    return 1;
}

uint32_t tp_rt_gen_sample(tp_rt_gen *g, tp_rt_model *m)
{
    g->pending = tp_rt_sample(&g->s, m->logits, m->c.vocab);
    return g->pending;
}

int tp_rt_gen_next(tp_rt_gen *g, tp_rt_model *m, uint32_t *token)
{
    if (!tp_rt_gen_step(g, m))
        return 0;
    *token = tp_rt_gen_sample(g, m);
    return 1;
}
