/*
 * interim_model.c - INTERIM stand-in for the inference runtime's port
 * (firmware/runtime/tp_runtime_port.c), to be replaced by it: the harness
 * selects the hooks unit in one place (device/emu, hooksSources).
 *
 * It implements the five model and generation hooks of tinyprof_port.h and
 * the tp_rt_board.h interface without running any model: an upload of any
 * bytes is stored in the board's upload buffer and "loaded" by hashing it,
 * and a generation is a deterministic xorshift32 stream seeded from the
 * request's seed and that hash, whose token history it keeps in the arena.
 * So the conformance suite's pseudo-random model uploads work, every
 * figure (bytes held, arena used) is real, and no token means anything.
 */
#include <string.h>

#include "tinyprof_port.h"
#include "tp_rt_board.h"

#define VOCAB 512u
#define HISTORY_DEFAULT 256u

static const tp_rt_board *board;
static uint32_t up_size, up_held, model_hash;
static uint8_t loaded;
static uint32_t arena_used, arena_peak;
static uint32_t *history, history_len, pos, rng;

void tp_rt_port_init(const tp_rt_board *b)
{
    board = b;
    up_size = up_held = model_hash = 0;
    loaded = 0;
    arena_used = arena_peak = 0;
    history = 0;
}

uint32_t tp_rt_arena_peak(void) { return arena_peak; }
uint32_t tp_rt_arena_used(void) { return arena_used; }
uint32_t tp_rt_kv_bytes(void) { return history ? history_len * 4u : 0u; }
uint32_t tp_rt_model_bytes(void) { return up_held; }

/* arena_take is a bump allocation from the board's arena, 8-aligned. */
static void *arena_take(uint32_t n)
{
    uint32_t at = (arena_used + 7u) & ~7u;
    if (at > board->arena_cap || n > board->arena_cap - at)
        return 0;
    arena_used = at + n;
    if (arena_used > arena_peak)
        arena_peak = arena_used;
    return board->arena + at;
}

int tp_port_model_begin(uint32_t size, const char *name, uint8_t name_len)
{
    (void)name;
    (void)name_len;
    if (!board || size > board->model_cap)
        return TP_ERR_MODEL_TOO_LARGE;
    loaded = 0;
    up_size = size;
    up_held = 0;
    return TP_OK;
}

int tp_port_model_chunk(uint32_t offset, const uint8_t *p, size_t n)
{
    if (offset > up_size || n > up_size - offset)
        return TP_ERR_BAD_REQUEST;
    memcpy(board->model_buf + offset, p, n);
    up_held = offset + (uint32_t)n;
    return TP_OK;
}

int tp_port_model_end(tp_model_info *info)
{
    uint32_t i, h = 2166136261u; /* FNV-1a */
    if (up_held != up_size)
        return TP_ERR_BAD_REQUEST;
    for (i = 0; i < up_size; i++)
        h = (h ^ board->model_buf[i]) * 16777619u;
    model_hash = h;
    loaded = 1;
    info->region = board->model_region;
    info->bytes = up_size;
    info->parameters = 0; /* not a model: nothing to count */
    return TP_OK;
}

int tp_port_gen_start(tp_gen *g)
{
    uint16_t words = 0;
    uint8_t i;
    int in_word = 0;
    if (!loaded)
        return TP_ERR_NO_MODEL;
    /* A generation's scratch lives from its start to the next one. */
    arena_used = 0;
    history_len = board->ctx_max ? board->ctx_max : HISTORY_DEFAULT;
    history = (uint32_t *)arena_take(history_len * 4u);
    if (!history)
        return TP_ERR_OUT_OF_MEMORY;
    for (i = 0; i < g->prompt_len; i++) {
        int space = g->prompt[i] == ' ';
        if (!space && !in_word)
            words++;
        in_word = !space;
    }
    g->prompt_tokens = words ? words : 1;
    pos = 0;
    rng = (g->seed ^ model_hash) | 1u;
    g->peak_heap = arena_peak;
    g->peak_psram = board->model_region == TP_REGION_PSRAM ? up_size : 0;
    return TP_OK;
}

int tp_port_gen_next(tp_gen *g, uint32_t *token)
{
    (void)g;
    rng ^= rng << 13;
    rng ^= rng >> 17;
    rng ^= rng << 5;
    *token = rng % VOCAB;
    history[pos++ % history_len] = *token;
    return 1;
}
