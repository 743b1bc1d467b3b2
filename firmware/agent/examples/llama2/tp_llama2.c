/*
 * tp_llama2.c - tinyprof inference hooks for llama2.c's run.c.
 *
 * run.c's build_transformer reads a checkpoint file through mmap(). Here
 * the checkpoint is already mapped (a flash partition, XIP flash), so this
 * file does build_transformer's work by hand: it points the weights into
 * the mapping with memory_map_weights and allocates the run state with
 * malloc_run_state. Generation follows run.c's generate(): forward() each
 * prompt token, then forward() and sample() once per generated token,
 * stopping at BOS (token 1) as run.c does.
 *
 * The prompt is encoded with the byte fallback of llama2.c's tokenizers
 * (BOS, then every byte b as token b + 3), so no tokenizer file is needed
 * on the board; prompts cost one token per byte. top_k is ignored: run.c
 * samples with temperature and top-p only.
 */
#include <stdlib.h>
#include <string.h>

#include "llama2.h"
#include "tp_llama2.h"

#define BOS 1
#define BYTE_TOKENS 3 /* <unk>, <s>, </s> come before the 256 byte tokens */

static struct {
    int loaded, sampler_built;
    Transformer t;
    Sampler sampler;
    int token, pos;
} m;

/* weight_floats returns how many floats of weights memory_map_weights
 * walks for p, with the RoPE tables it skips; 64-bit so that a corrupt
 * header cannot wrap. */
static uint64_t weight_floats(const Config *p, int shared)
{
    uint64_t dim = (uint64_t)p->dim, hidden = (uint64_t)p->hidden_dim, layers = (uint64_t)p->n_layers;
    uint64_t head = dim / (uint64_t)p->n_heads, kv_dim = head * (uint64_t)p->n_kv_heads;
    uint64_t vocab = (uint64_t)p->vocab_size, seq = (uint64_t)p->seq_len;
    uint64_t n = vocab * dim;                   /* token embedding */
    n += layers * (2 * dim + 2 * dim * dim);    /* rms_att, rms_ffn, wq, wo */
    n += layers * 2 * dim * kv_dim;             /* wk, wv */
    n += layers * 3 * dim * hidden;             /* w1, w2, w3 */
    n += dim + seq * head;                      /* rms_final, freq_cis_real and _imag */
    return shared ? n : n + vocab * dim;        /* wcls */
}

static int fits(size_t bytes)
{
    void *p = malloc(bytes);
    free(p);
    return p != NULL;
}

int tp_llama2_load(const void *checkpoint, uint32_t size, uint8_t region, tp_model_info *info)
{
    Config c;
    int shared;
    size_t kv_dim, cache;
    tp_llama2_unload();
    if (size < sizeof c)
        return TP_ERR_UNSUPPORTED_FORMAT;
    memcpy(&c, checkpoint, sizeof c);
    shared = c.vocab_size > 0;
    c.vocab_size = abs(c.vocab_size);
    if (c.dim <= 0 || c.hidden_dim <= 0 || c.n_layers <= 0 || c.n_heads <= 0 || c.n_kv_heads <= 0 ||
        c.seq_len <= 0 || c.dim % c.n_heads != 0 || c.n_heads % c.n_kv_heads != 0 ||
        c.vocab_size < BYTE_TOKENS + 256 ||
        weight_floats(&c, shared) > (size - sizeof c) / sizeof(float))
        return TP_ERR_UNSUPPORTED_FORMAT;

    /* run.c's forward() takes non-const pointers but only reads weights. */
    memory_map_weights(&m.t.weights, &c, (float *)((uintptr_t)checkpoint + sizeof c), shared);
    if (TP_LLAMA2_MAX_SEQ > 0 && c.seq_len > TP_LLAMA2_MAX_SEQ)
        c.seq_len = TP_LLAMA2_MAX_SEQ; /* after mapping: the RoPE skip needs the real one */

    /* malloc_run_state exits on failure; probe the two big blocks first. */
    kv_dim = (size_t)c.dim / (size_t)c.n_heads * (size_t)c.n_kv_heads;
    cache = (size_t)c.n_layers * (size_t)c.seq_len * kv_dim * sizeof(float);
    if (!fits(cache) || !fits(2 * cache))
        return TP_ERR_OUT_OF_MEMORY;
    m.t.config = c;
    m.t.fd = -1;
    m.t.data = NULL;
    m.t.file_size = 0;
    malloc_run_state(&m.t.state, &m.t.config);
    m.loaded = 1;

    info->region = region;
    info->bytes = size;
    info->parameters = (uint32_t)weight_floats(&c, 1) - (uint32_t)c.seq_len * (uint32_t)(c.dim / c.n_heads);
    if (!shared)
        info->parameters += (uint32_t)c.vocab_size * (uint32_t)c.dim;
    return TP_OK;
}

void tp_llama2_unload(void)
{
    if (m.sampler_built)
        free_sampler(&m.sampler);
    if (m.loaded)
        free_run_state(&m.t.state);
    m.sampler_built = m.loaded = 0;
}

int tp_llama2_start(tp_gen *g)
{
    int n = g->prompt_len + 1, pos;
    uint32_t seed = g->seed ? g->seed : 0x9e3779b9u; /* xorshift never leaves 0 */
    if (!m.loaded)
        return TP_ERR_NO_MODEL;
    if (n > m.t.config.seq_len)
        return TP_ERR_BAD_REQUEST;
    if (m.sampler_built)
        free_sampler(&m.sampler);
    /* topp outside (0, 1) makes run.c sample the whole distribution. */
    build_sampler(&m.sampler, m.t.config.vocab_size, (float)g->temperature_permille / 1000.0f,
                  (float)g->top_p_permille / 1000.0f, seed);
    if (m.sampler.probindex == NULL)
        return TP_ERR_OUT_OF_MEMORY;
    m.sampler_built = 1;

    /* Prefill: every prompt token but the last, whose logits give the
     * first generated token in tp_llama2_next. */
    m.token = BOS;
    for (pos = 0; pos < n - 1; pos++) {
        forward(&m.t, m.token, pos);
        m.token = (unsigned char)g->prompt[pos] + BYTE_TOKENS;
    }
    m.pos = n - 1;
    g->prompt_tokens = (uint16_t)n;
    return TP_OK;
}

int tp_llama2_next(tp_gen *g, uint32_t *token)
{
    int next;
    (void)g;
    if (m.pos >= m.t.config.seq_len)
        return 0;
    next = sample(&m.sampler, forward(&m.t, m.token, m.pos));
    m.pos++;
    if (next == BOS)
        return 0;
    m.token = next;
    *token = (uint32_t)next;
    return 1;
}
