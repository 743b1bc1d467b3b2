/*
 * llama2.h - declarations of the parts of llama2.c's run.c
 * (https://github.com/karpathy/llama2.c, master) that tp_llama2.c calls.
 *
 * run.c has no header, so the types below mirror its definitions field for
 * field. If you update run.c, diff these structs against it: a mismatch
 * compiles and links cleanly and then corrupts memory.
 *
 * Compile run.c with -DTESTING (it wraps its main() in #ifndef TESTING) and
 * with shim/ on its include path (it includes <sys/mman.h>, which neither
 * ESP-IDF nor newlib provides; the adapter never calls build_transformer,
 * so mmap is never used).
 */
#ifndef TP_LLAMA2_RUN_H
#define TP_LLAMA2_RUN_H

#include <stdint.h>
#include <sys/types.h> /* ssize_t */

typedef struct {
    int dim;        /* transformer dimension */
    int hidden_dim; /* for ffn layers */
    int n_layers;
    int n_heads;
    int n_kv_heads;
    int vocab_size; /* negative in the checkpoint: unshared classifier */
    int seq_len;
} Config;

typedef struct {
    float *token_embedding_table;
    float *rms_att_weight;
    float *rms_ffn_weight;
    float *wq;
    float *wk;
    float *wv;
    float *wo;
    float *w1;
    float *w2;
    float *w3;
    float *rms_final_weight;
    float *wcls;
} TransformerWeights;

typedef struct {
    float *x, *xb, *xb2, *hb, *hb2, *q, *k, *v, *att, *logits;
    float *key_cache, *value_cache;
} RunState;

typedef struct {
    Config config;
    TransformerWeights weights;
    RunState state;
    int fd;            /* unused here: build_transformer's file mapping */
    float *data;       /* unused here */
    ssize_t file_size; /* unused here */
} Transformer;

typedef struct {
    float prob;
    int index;
} ProbIndex;

typedef struct {
    int vocab_size;
    ProbIndex *probindex;
    float temperature;
    float topp;
    unsigned long long rng_state;
} Sampler;

/* memory_map_weights points w into ptr, the floats after the Config header.
 * It only stores pointers: the weights stay where they are (here, in
 * memory-mapped flash). */
void memory_map_weights(TransformerWeights *w, Config *p, float *ptr, int shared_weights);
/* malloc_run_state callocs the activations and the KV cache; it calls
 * exit() if an allocation fails, so check the sizes first. */
void malloc_run_state(RunState *s, Config *p);
void free_run_state(RunState *s);
/* forward runs one token at position pos and returns the logits. */
float *forward(Transformer *transformer, int token, int pos);
void build_sampler(Sampler *sampler, int vocab_size, float temperature, float topp, unsigned long long rng_seed);
void free_sampler(Sampler *sampler);
/* sample picks the next token from logits (which it overwrites). */
int sample(Sampler *sampler, float *logits);

#endif
