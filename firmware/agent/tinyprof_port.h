/*
 * tinyprof_port.h - the porting layer of the tinyprof agent.
 *
 * A firmware implements these functions once per board; the agent calls
 * them from tp_agent_poll() and tp_agent_init() only, never from an
 * interrupt, and never concurrently.
 */
#ifndef TINYPROF_PORT_H
#define TINYPROF_PORT_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Error codes of the protocol, returned by the inference hooks. */
enum {
    TP_OK = 0,
    TP_ERR_OUT_OF_MEMORY = 1,
    TP_ERR_MODEL_TOO_LARGE = 2,
    TP_ERR_BAD_CHECKSUM = 3,
    TP_ERR_UNSUPPORTED_FORMAT = 4,
    TP_ERR_BUSY = 5,
    TP_ERR_UNKNOWN_COMMAND = 6,
    TP_ERR_BAD_FRAME = 7,
    TP_ERR_BAD_REQUEST = 8,
    TP_ERR_NO_MODEL = 9
};

/* Memory regions for tp_model_info.region. */
enum { TP_REGION_SRAM = 1, TP_REGION_PSRAM = 2, TP_REGION_FLASH = 3 };

/* tp_metrics is a snapshot of the board's resources; zero what you do not know. */
typedef struct tp_metrics {
    uint32_t free_heap, min_free_heap, largest_free_block;
    uint32_t psram_free, psram_min_free;
    uint16_t cpu_load_permille;
    uint8_t has_power; /* 1 if the power fields are measured */
    uint32_t power_uw;
    uint16_t voltage_mv;
    uint32_t current_ua;
} tp_metrics;

/* tp_model_info describes a loaded model; tp_port_model_end fills it. */
typedef struct tp_model_info {
    uint8_t region;      /* TP_REGION_* where the weights live */
    uint32_t bytes;      /* bytes they occupy there */
    uint32_t parameters; /* parameter count, 0 if unknown */
} tp_model_info;

/* tp_gen is one generation request. The agent fills the request fields;
 * the port fills the result fields during tp_port_gen_start/next. */
typedef struct tp_gen {
    uint16_t max_tokens;
    uint32_t seed;
    uint16_t temperature_permille, top_p_permille, top_k;
    const char *prompt; /* not NUL-terminated; valid during tp_port_gen_start only */
    uint8_t prompt_len;
    /* results */
    uint16_t prompt_tokens;
    uint32_t peak_heap, peak_psram; /* bytes in use at the peak */
} tp_gen;

/* tp_port_write writes n bytes to the serial line, blocking until they are
 * queued. */
void tp_port_write(const uint8_t *p, size_t n);

/* tp_port_time_us returns a monotonic microsecond clock since boot. */
uint64_t tp_port_time_us(void);

/* tp_port_random returns a random 32-bit number for the boot id. */
uint32_t tp_port_random(void);

/* tp_port_metrics fills m with heap, PSRAM, CPU and power figures. */
void tp_port_metrics(tp_metrics *m);

/* tp_port_reset restarts the board. If it returns (a host build), the agent
 * reinitialises itself as if the board had rebooted. */
void tp_port_reset(void);

/* tp_port_model_begin prepares to receive a model of size bytes; it returns
 * TP_OK or TP_ERR_MODEL_TOO_LARGE / TP_ERR_OUT_OF_MEMORY. Any loaded model
 * may be discarded. */
int tp_port_model_begin(uint32_t size, const char *name, uint8_t name_len);

/* tp_port_model_chunk stores n bytes at offset; chunks arrive in order. */
int tp_port_model_chunk(uint32_t offset, const uint8_t *p, size_t n);

/* tp_port_model_end loads the model, whose SHA-256 the agent has verified,
 * and fills info; it returns TP_OK or TP_ERR_UNSUPPORTED_FORMAT etc. */
int tp_port_model_end(tp_model_info *info);

/* tp_port_gen_start processes the prompt (prefill); it returns TP_OK or an
 * error such as TP_ERR_OUT_OF_MEMORY. */
int tp_port_gen_start(tp_gen *g);

/* tp_port_gen_next produces the next token in *token. It returns 1 for a
 * token, 0 at end of sequence, 2 when the context is full (no token), or
 * a negative TP_ERR_* code. */
int tp_port_gen_next(tp_gen *g, uint32_t *token);

#ifdef __cplusplus
}
#endif
#endif
