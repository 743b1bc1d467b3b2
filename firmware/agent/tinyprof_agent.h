/*
 * tinyprof_agent.h - device side of the tinyprof wire protocol, version 1
 * (firmware/PROTOCOL.md). Portable C99: no malloc, no floating point, every
 * buffer sized by the macros below (define them with -D to change them).
 *
 * Usage:
 *   static tp_agent agent;
 *   tp_agent_init(&agent, &config);       // sends the boot INFO
 *   UART ISR:  tp_agent_rx(&agent, bytes, n);
 *   main loop: tp_agent_poll(&agent);     // handles requests, produces tokens
 */
#ifndef TINYPROF_AGENT_H
#define TINYPROF_AGENT_H

#include <stddef.h>
#include <stdint.h>

#include "tinyprof_port.h"

#ifdef __cplusplus
extern "C" {
#endif

/* TP_MAX_PAYLOAD is the largest payload the agent accepts (and reports in
 * INFO). It costs twice its size in RAM: one receive, one transmit buffer. */
#ifndef TP_MAX_PAYLOAD
#define TP_MAX_PAYLOAD 1024
#endif
/* TP_RX_RING is the receive ring between the ISR and tp_agent_poll; a power
 * of two. At 115200 baud it must hold what arrives between two polls. */
#ifndef TP_RX_RING
#define TP_RX_RING 256
#endif
/* TP_TX_STAGE is the staging buffer COBS-encoded bytes pass through on
 * their way to tp_port_write: 1..32768 bytes. A frame larger than the stage
 * is written in several pieces. */
#ifndef TP_TX_STAGE
#define TP_TX_STAGE 64
#endif
/* TP_MODEL_WINDOW is the most model chunks the agent lets be in flight. */
#ifndef TP_MODEL_WINDOW
#define TP_MODEL_WINDOW 4
#endif
/* TP_BATCH_TOKENS and TP_BATCH_US: a TOKENS frame goes out every this many
 * tokens or microseconds, whichever comes first, and at the end. */
#ifndef TP_BATCH_TOKENS
#define TP_BATCH_TOKENS 16
#endif
#ifndef TP_BATCH_US
#define TP_BATCH_US 100000u
#endif

#define TP_FRAME_OVERHEAD 7 /* type, seq, crc */

#if TP_MAX_PAYLOAD < 64 || TP_MAX_PAYLOAD > 16384
#error "TP_MAX_PAYLOAD must be within 64..16384"
#endif
#if (TP_RX_RING & (TP_RX_RING - 1)) != 0 || TP_RX_RING > 32768
#error "TP_RX_RING must be a power of two up to 32768"
#endif
#if TP_TX_STAGE < 1 || TP_TX_STAGE > 32768
#error "TP_TX_STAGE must be within 1..32768 (its fill level is a uint16_t)"
#endif

/* Log levels for tp_agent_log. */
enum { TP_LOG_ERROR = 1, TP_LOG_WARN = 2, TP_LOG_INFO = 3, TP_LOG_DEBUG = 4 };

/* Capability bits for tp_agent_config.capabilities. The agent honours
 * CANCEL, so a port normally sets TP_CAP_CANCEL. SIMULATED and EMULATED
 * mark boards whose figures are not silicon's: EMULATED is real firmware
 * on an emulated machine (QEMU), whose times count instructions. */
enum { TP_CAP_POWER = 1, TP_CAP_CANCEL = 2, TP_CAP_PSRAM = 4, TP_CAP_SIMULATED = 8, TP_CAP_EMULATED = 16 };

/* tp_agent_config describes the board for INFO. The agent keeps the
 * pointer: the struct and its strings must outlive the agent. INFO must fit
 * the payload limit, so at 64 bytes the three strings share 38 bytes: the
 * platform is kept whole first, then the firmware, and the chip is cut. */
typedef struct tp_agent_config {
    const char *firmware; /* e.g. "tinyprof-agent/0.1.0" */
    const char *platform; /* catalogue key, e.g. "esp32s3" */
    const char *chip;     /* e.g. "ESP32-S3 rev0.2" */
    uint16_t cpu_mhz;
    uint32_t sram, psram, flash; /* bytes */
    uint16_t capabilities;       /* TP_CAP_* */
} tp_agent_config;

/* tp_agent_model describes a model the firmware holds from boot (linked
 * into flash, say), which the host may generate from without an upload:
 * what MODEL_DONE would report, and the file's SHA-256. */
typedef struct tp_agent_model {
    tp_model_info info;
    uint8_t sha256[32];
} tp_agent_model;

typedef struct tp_sha256 {
    uint32_t h[8];
    uint64_t len;
    uint8_t buf[64];
} tp_sha256;

/* tp_agent is the agent's whole state. Treat it as opaque; allocate it
 * statically. */
typedef struct tp_agent {
    const tp_agent_config *cfg;
    uint32_t boot_id;
    uint16_t max_payload; /* negotiated */

    /* receive ring: head written by tp_agent_rx, tail by tp_agent_poll */
    volatile uint16_t rx_head, rx_tail;
    volatile uint8_t rx_overrun;
    uint8_t ring[TP_RX_RING];

    /* incremental COBS decoder */
    uint16_t rx_len;
    uint8_t rx_code, rx_left, rx_started, rx_bad;
    uint8_t rx[TP_MAX_PAYLOAD + TP_FRAME_OVERHEAD];

    /* transmit */
    uint16_t tx_len;
    uint8_t tx_over; /* a put did not fit tx */
    uint8_t tx[TP_MAX_PAYLOAD + TP_FRAME_OVERHEAD];
    uint8_t stage[TP_TX_STAGE];
    uint16_t stage_len; /* TP_TX_STAGE may exceed 255 */

    /* model upload */
    uint8_t up_active, model_loaded;
    uint8_t up_sha[32];
    uint32_t up_size, up_off;
    uint16_t up_chunk;
    uint8_t up_window;
    tp_model_info loaded; /* answers a repeated MODEL_END */
    const tp_agent_model *preload; /* the boot model, or NULL */
    tp_sha256 sha;

    /* generation */
    uint8_t gen_active;
    uint16_t gen_seq, gen_count, batch_n, batch_index, batch_bytes;
    uint64_t gen_start, gen_first, gen_last, batch_t0;
    uint32_t gen_prefill;
    tp_gen gen;
    uint32_t batch_id[TP_BATCH_TOKENS];
    uint64_t batch_t[TP_BATCH_TOKENS];
} tp_agent;

/* tp_agent_init initialises a, remembers cfg and sends the boot INFO. */
void tp_agent_init(tp_agent *a, const tp_agent_config *cfg);

/* tp_agent_set_model tells the agent that the inference hooks hold the
 * model m from boot (the port has loaded it already), so that GENERATE
 * works without an upload; call it after tp_agent_init. The agent keeps
 * the pointer: *m must outlive it. An upload replaces the model; a RESET
 * that returns (a host build) restores m, as a reboot would. NULL forgets
 * it. */
void tp_agent_set_model(tp_agent *a, const tp_agent_model *m);

/* tp_agent_rx queues received bytes. It is safe to call from one interrupt
 * handler while tp_agent_poll runs; bytes that do not fit are dropped and
 * the frame they belong to is reported bad. */
void tp_agent_rx(tp_agent *a, const uint8_t *p, size_t n);

/* tp_agent_poll handles queued bytes and, during a generation, produces one
 * token. Call it from the main loop or a task; it returns 1 while a
 * generation runs (call again soon) and 0 when idle. */
int tp_agent_poll(tp_agent *a);

/* tp_agent_log sends a LOG line (text need not be NUL-terminated; it is cut
 * to fit the payload limit, where no UTF-8 sequence is split). Call it from the main loop or from the tp_port_model_* and
 * tp_port_gen_* hooks; never from an interrupt or tp_port_write. */
void tp_agent_log(tp_agent *a, uint8_t level, const char *text, size_t len);

#ifdef __cplusplus
}
#endif
#endif
