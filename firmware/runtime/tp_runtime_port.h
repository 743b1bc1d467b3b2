/*
 * tp_runtime_port.h - the agent's inference hooks on the runtime.
 *
 * tp_runtime_port.c implements tp_port_model_begin/chunk/end and
 * tp_port_gen_start/next (tinyprof_port.h) with the runtime in tp_rt.h. A
 * board describes its memory once, at boot, with tp_rt_port_init, and
 * implements the agent's other port functions itself.
 */
#ifndef TP_RUNTIME_PORT_H
#define TP_RUNTIME_PORT_H

#include <stdint.h>

#include "tinyprof_port.h"

#ifdef __cplusplus
extern "C" {
#endif

/* tp_rt_board is a board's memory for the runtime. The buffers must stay
 * valid, and be used by nothing else, from tp_rt_port_init on. */
typedef struct tp_rt_board {
    uint8_t *model_buf;              /* uploads land here */
    uint32_t model_cap;              /* its size: larger uploads are refused */
    uint8_t model_region;            /* TP_REGION_* of model_buf, reported to the host */
    const uint8_t *flash_model;      /* a model preloaded in flash, or NULL */
    uint32_t flash_model_len;        /* its exact length in bytes, or 0 */
    uint8_t *arena;                  /* activations, KV cache, scratch */
    uint32_t arena_cap;
    uint16_t ctx_max;                /* KV cache positions; 0: the model's own seq_len */
} tp_rt_board;

/* tp_rt_port_init copies *b, and loads flash_model if given (an invalid
 * one leaves no model loaded; tp_rt_port_last_error says why). Call it
 * once at boot, before the agent. */
void tp_rt_port_init(const tp_rt_board *b);

/* tp_rt_arena_peak returns the arena's high-water mark in bytes since the
 * model was loaded; tp_rt_arena_used what is in use now. */
uint32_t tp_rt_arena_peak(void);
uint32_t tp_rt_arena_used(void);

/* tp_rt_kv_bytes returns the loaded model's KV cache size in bytes. */
uint32_t tp_rt_kv_bytes(void);

/* tp_rt_model_bytes returns the bytes of model_buf the current upload
 * holds: what has arrived, then the whole model; 0 for a flash model. */
uint32_t tp_rt_model_bytes(void);

/* tp_rt_port_flash_info fills info (region FLASH, bytes, parameters) and
 * returns 1 while the preloaded flash model is the loaded one, else 0:
 * what the board hands tp_agent_set_model. */
int tp_rt_port_flash_info(tp_model_info *info);

/* tp_rt_port_last_error returns the TP_RT_ERR_* of the last failed load
 * or generation start, 0 if none. */
int tp_rt_port_last_error(void);

/* tp_rt_port_loaded reports whether a model is loaded and ready. */
int tp_rt_port_loaded(void);

#ifdef __cplusplus
}
#endif
#endif
