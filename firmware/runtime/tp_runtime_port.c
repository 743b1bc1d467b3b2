//go:build ignore

// The line above keeps the Go tool from treating this directory as a cgo
// package; the tests build this file with the system C compiler.

/*
 * tp_runtime_port.c - the agent's inference hooks on the runtime.
 *
 * An upload is copied chunk by chunk into the board's model buffer (the
 * only copy: the runtime then reads the weights there in place), loaded
 * when the agent has checked its SHA-256, and generation runs the prompt
 * rule of tp_rt_prompt_token: BOS, then each byte modulo the vocabulary.
 */
#include <string.h>

#include "tinyprof_port.h"
#include "tp_rt.h"
#include "tp_runtime_port.h"

static struct {
    tp_rt_board b;
    tp_rt_arena arena;
    tp_rt_model model;
    tp_rt_gen gen;
    uint32_t up_size, up_held;
    uint8_t loaded, generating, flash;
    int last_error;
} rt;

/* port_err maps a runtime result (TP_RT_OK..TP_RT_ERR_NO_MODEL) to the
 * protocol's error codes. */
static int port_err(int e)
{
    static const uint8_t code[6] = {TP_OK,
                                    TP_ERR_UNSUPPORTED_FORMAT,
                                    TP_ERR_UNSUPPORTED_FORMAT,
                                    TP_ERR_OUT_OF_MEMORY,
                                    TP_ERR_BAD_REQUEST,
                                    TP_ERR_NO_MODEL};
    return e >= 0 && e < 6 ? code[e] : TP_ERR_UNSUPPORTED_FORMAT;
}

static int load(const uint8_t *p, uint32_t n)
{
    int e = tp_rt_load(&rt.model, p, n, &rt.arena, rt.b.ctx_max);
    rt.loaded = e == TP_RT_OK;
    rt.generating = 0;
    rt.last_error = e;
    return e;
}

void tp_rt_port_init(const tp_rt_board *b)
{
    memset(&rt, 0, sizeof rt);
    rt.b = *b;
    tp_rt_arena_init(&rt.arena, b->arena, b->arena_cap);
    if (b->flash_model && b->flash_model_len)
        rt.flash = load(b->flash_model, b->flash_model_len) == TP_RT_OK;
}

int tp_rt_port_flash_info(tp_model_info *info)
{
    if (!rt.flash)
        return 0;
    info->region = TP_REGION_FLASH;
    info->bytes = rt.b.flash_model_len;
    info->parameters = rt.model.params;
    return 1;
}

uint32_t tp_rt_arena_peak(void) { return rt.arena.peak; }
uint32_t tp_rt_arena_used(void) { return rt.arena.used; }
uint32_t tp_rt_kv_bytes(void) { return rt.loaded ? rt.model.kv_bytes : 0; }
uint32_t tp_rt_model_bytes(void) { return rt.up_held; }
int tp_rt_port_last_error(void) { return rt.last_error; }
int tp_rt_port_loaded(void) { return rt.loaded; }

int tp_port_model_begin(uint32_t size, const char *name, uint8_t name_len)
{
    (void)name;
    (void)name_len;
    rt.loaded = 0; /* the buffer is about to be overwritten */
    rt.generating = 0;
    rt.flash = 0;
    rt.up_size = rt.up_held = 0;
    if (!rt.b.model_buf || size > rt.b.model_cap)
        return TP_ERR_MODEL_TOO_LARGE;
    rt.up_size = size;
    return TP_OK;
}

int tp_port_model_chunk(uint32_t offset, const uint8_t *p, size_t n)
{
    if (offset > rt.up_size || n > rt.up_size - offset)
        return TP_ERR_BAD_REQUEST;
    memcpy(rt.b.model_buf + offset, p, n);
    rt.up_held = offset + (uint32_t)n;
    return TP_OK;
}

int tp_port_model_end(tp_model_info *info)
{
    int e = load(rt.b.model_buf, rt.up_size);
    if (e)
        return port_err(e);
    info->region = rt.b.model_region;
    info->bytes = rt.up_size;
    info->parameters = rt.model.params;
    return TP_OK;
}

int tp_port_gen_start(tp_gen *g)
{
    int e;
    float temp = (float)g->temperature_permille / 1000.0f, top_p = (float)g->top_p_permille / 1000.0f;
    rt.generating = 0;
    if (!rt.loaded)
        return TP_ERR_NO_MODEL;
    e = tp_rt_gen_start(&rt.gen, &rt.model, &rt.arena, (const uint8_t *)g->prompt, g->prompt_len, temp, top_p,
                        g->top_k, g->seed);
    g->prompt_tokens = (uint16_t)rt.gen.prompt_tokens;
    g->peak_heap = rt.arena.peak;
    if (e) {
        rt.last_error = e;
        return port_err(e);
    }
    rt.generating = 1;
    return TP_OK;
}

int tp_port_gen_next(tp_gen *g, uint32_t *token)
{
    if (!rt.generating)
        return -TP_ERR_NO_MODEL;
    if (!tp_rt_gen_next(&rt.gen, &rt.model, token)) {
        rt.generating = 0;
        return 2; /* the context is full */
    }
    g->peak_heap = rt.arena.peak;
    return 1;
}
