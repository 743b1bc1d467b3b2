/*
 * tp_llama2.h - the tinyprof inference hooks on top of llama2.c's run.c,
 * for weights that stay where they were stored (memory-mapped flash).
 * Platform-independent: a port calls these from its tp_port_model_end and
 * tp_port_gen_* functions, and fills in the platform's heap figures itself.
 */
#ifndef TP_LLAMA2_H
#define TP_LLAMA2_H

#include <stdint.h>

#include "tinyprof_port.h"

/* TP_LLAMA2_MAX_SEQ, when not 0, caps the model's context (seq_len) so that
 * the KV cache, 2 * n_layers * seq_len * kv_dim floats, fits in RAM. A
 * generation that reaches the cap ends as if at end of sequence. */
#ifndef TP_LLAMA2_MAX_SEQ
#define TP_LLAMA2_MAX_SEQ 0
#endif

/* tp_llama2_load checks the llama2.c checkpoint (a Config header, then fp32
 * weights) at checkpoint, which must stay mapped until tp_llama2_unload,
 * allocates the run state, and fills info. It returns TP_OK,
 * TP_ERR_UNSUPPORTED_FORMAT or TP_ERR_OUT_OF_MEMORY. */
int tp_llama2_load(const void *checkpoint, uint32_t size, uint8_t region, tp_model_info *info);

/* tp_llama2_unload frees the run state; the caller may then unmap the
 * weights. It is safe to call with no model loaded. */
void tp_llama2_unload(void);

/* tp_llama2_start and tp_llama2_next implement tp_port_gen_start and
 * tp_port_gen_next, except for the peak_heap and peak_psram fields. */
int tp_llama2_start(tp_gen *g);
int tp_llama2_next(tp_gen *g, uint32_t *token);

#endif
