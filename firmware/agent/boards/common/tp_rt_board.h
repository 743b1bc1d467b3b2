/*
 * tp_rt_board.h - how a board hands its memory to the inference hooks.
 *
 * The five model and generation hooks of tinyprof_port.h
 * (tp_port_model_begin/chunk/end, tp_port_gen_start/next) are not board
 * code: they belong to the inference runtime (firmware/runtime,
 * tp_runtime_port.c), and until it lands to common/interim_model.c. The
 * board describes its memory once, at boot, through tp_rt_port_init, and
 * reads the arena's statistics back for METRICS.
 *
 * This declaration mirrors the runtime's port interface; when the runtime
 * ships its own header, include that instead.
 */
#ifndef TP_RT_BOARD_H
#define TP_RT_BOARD_H

#include <stdint.h>

typedef struct tp_rt_board {
    uint8_t *model_buf;                   /* uploads land here */
    uint32_t model_cap;                   /* bytes */
    uint8_t model_region;                 /* TP_REGION_* of model_buf */
    const uint8_t *flash_model;           /* a model preloaded in flash, or NULL */
    uint32_t flash_model_len;             /* its bytes, or 0 */
    uint8_t *arena;                       /* activations, KV cache, scratch */
    uint32_t arena_cap;                   /* bytes */
    uint16_t ctx_max;                     /* 0: the model's own seq_len */
} tp_rt_board;

/* tp_rt_port_init remembers b (which must outlive the firmware) and
 * forgets any loaded model. */
void tp_rt_port_init(const tp_rt_board *b);

/* Arena statistics in bytes: the high-water mark since tp_rt_port_init,
 * what is in use now, and how much of it is the KV cache. */
uint32_t tp_rt_arena_peak(void);
uint32_t tp_rt_arena_used(void);
uint32_t tp_rt_kv_bytes(void);

/* tp_rt_model_bytes is the bytes of model_buf the current upload or
 * loaded model occupies. It is optional (weak): a hooks unit without it
 * leaves the board reporting the upload region's use as unknown. */
uint32_t tp_rt_model_bytes(void) __attribute__((weak));

#endif
