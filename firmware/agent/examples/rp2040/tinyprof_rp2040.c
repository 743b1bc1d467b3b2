/*
 * tinyprof_rp2040.c - the tinyprof agent on a Raspberry Pi Pico (RP2040,
 * Pico SDK 1.5+): UART0 on GPIO 0/1 with an RX interrupt, the 64-bit
 * microsecond timer, pico_rand and a watchdog reboot. Inference is
 * tinyprof's runtime (firmware/runtime, tp_runtime_port.h): a model
 * programmed into the flash at MODEL_OFFSET beforehand (picotool, README)
 * is read in place through XIP, and the arena (KV cache, activations) and
 * an upload buffer for small models are static arrays in SRAM.
 *
 * Pico SDK reference: https://www.raspberrypi.com/documentation/pico-sdk/
 * (hardware_uart, hardware_watchdog, pico_rand).
 */
#include <stdint.h>
#include <string.h>

#include "hardware/clocks.h"
#include "hardware/gpio.h"
#include "hardware/irq.h"
#include "hardware/uart.h"
#include "hardware/watchdog.h"
#include "pico/rand.h"
#include "pico/stdlib.h"

#include "tinyprof_agent.h"
#include "tp_runtime_port.h"

#define UART uart0
#define UART_IRQ UART0_IRQ
#define TX_PIN 0
#define RX_PIN 1
#define BAUD 115200

/* The preloaded model starts MODEL_OFFSET bytes into the flash (default:
 * after the first 512 KiB, which hold the program) and is TP_MODEL_BYTES
 * long, with SHA-256 TP_MODEL_SHA256 (64 hex digits); CMakeLists.txt sets
 * both from TINYPROF_MODEL_FILE. Without them there is no preloaded model. */
#ifndef MODEL_OFFSET
#define MODEL_OFFSET (512u * 1024u)
#endif
#ifndef TP_MODEL_BYTES
#define TP_MODEL_BYTES 0u
#endif
#ifndef TP_MODEL_SHA256
#define TP_MODEL_SHA256 ""
#endif
#if MODEL_OFFSET % 4096u != 0
#error "MODEL_OFFSET must be a multiple of the 4 KiB flash sector"
#endif
#if TP_MODEL_BYTES > 0 && MODEL_OFFSET + TP_MODEL_BYTES > PICO_FLASH_SIZE_BYTES
#error "the model does not fit in the flash after MODEL_OFFSET"
#endif

/* SRAM for the runtime (264 KiB in all). The defaults fit Stories260K at
 * a context of 64 (87,216 bytes of arena, firmware/runtime/README.md) and
 * uploads of models up to 64 KiB; larger ones belong in flash. */
#ifndef TP_ARENA_BYTES
#define TP_ARENA_BYTES (96u * 1024u)
#endif
#ifndef TP_UPLOAD_BYTES
#define TP_UPLOAD_BYTES (64u * 1024u)
#endif
#ifndef TP_CTX_MAX
#define TP_CTX_MAX 64
#endif

extern char __flash_binary_end; /* pico linker script: end of the program in XIP address space */

static tp_agent agent;
static tp_rt_board rt;
static tp_agent_model flash_model;
static uint8_t arena[TP_ARENA_BYTES] __attribute__((aligned(8)));
#if TP_UPLOAD_BYTES > 0
static uint8_t upload[TP_UPLOAD_BYTES] __attribute__((aligned(8)));
#else
#define upload ((uint8_t *)0)
#endif

/* ---- transport, clock, identity ---- */

static void on_uart_rx(void)
{
    uint8_t buf[32]; /* the RX FIFO's depth */
    size_t n = 0;
    while (uart_is_readable(UART) && n < sizeof buf)
        buf[n++] = (uint8_t)uart_getc(UART);
    tp_agent_rx(&agent, buf, n);
}

void tp_port_write(const uint8_t *p, size_t n) { uart_write_blocking(UART, p, n); }

uint64_t tp_port_time_us(void) { return time_us_64(); }

/* pico_rand mixes ring-oscillator and timer entropy. */
uint32_t tp_port_random(void) { return get_rand_32(); }

/* The runtime's arena is the only memory that changes with the model:
 * nothing here calls malloc. It is a bump allocator, so what is free is
 * one block. */
void tp_port_metrics(tp_metrics *m)
{
    uint32_t used = tp_rt_arena_used(), peak = tp_rt_arena_peak();
    if (used > rt.arena_cap)
        used = rt.arena_cap;
    if (peak < used)
        peak = used;
    if (peak > rt.arena_cap)
        peak = rt.arena_cap;
    memset(m, 0, sizeof *m);
    m->free_heap = rt.arena_cap - used;
    m->min_free_heap = rt.arena_cap - peak;
    m->largest_free_block = rt.arena_cap - used;
}

void tp_port_reset(void)
{
    uart_tx_wait_blocking(UART); /* let RESET_ACK out */
    watchdog_reboot(0, 0, 1);    /* pc 0: a normal boot, 1 ms from now */
    for (;;)
        tight_loop_contents();
}

/* ---- memory for the runtime, once at boot ---- */

/* hex_sha256 decodes 64 hex digits into out; it returns 0 for anything
 * else, so a mistyped digest leaves the flash model unannounced rather
 * than announced under the wrong name. */
static int hex_sha256(const char *hex, uint8_t out[32])
{
    int i;
    if (strlen(hex) != 64)
        return 0;
    for (i = 0; i < 64; i++) {
        char c = hex[i];
        int v = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
        if (v < 0)
            return 0;
        out[i / 2] = (uint8_t)(i % 2 ? out[i / 2] | v : v << 4);
    }
    return 1;
}

/* board_memory hands the runtime its SRAM and the flash model. It returns
 * what went wrong, for the log, or NULL. */
static const char *board_memory(void)
{
    const char *failed = NULL;
    const uint32_t model_bytes = TP_MODEL_BYTES; /* a variable: no "always false" warning when 0 */
    rt.model_buf = upload;
    rt.model_cap = TP_UPLOAD_BYTES;
    rt.model_region = TP_REGION_SRAM;
    rt.arena = arena;
    rt.arena_cap = sizeof arena;
    rt.ctx_max = TP_CTX_MAX;
    if (model_bytes > 0) {
        /* The program must end below the model (the #if above checks the
         * flash's end): loading the program overwrote it otherwise. */
        if ((uintptr_t)&__flash_binary_end > XIP_BASE + MODEL_OFFSET)
            failed = "program overlaps the model: raise MODEL_OFFSET";
        else {
            rt.flash_model = (const uint8_t *)(XIP_BASE + MODEL_OFFSET);
            rt.flash_model_len = model_bytes;
        }
    }
    tp_rt_port_init(&rt);
    return failed;
}

static void log_text(const char *text) { tp_agent_log(&agent, TP_LOG_ERROR, text, strlen(text)); }

/* ---- main ---- */

int main(void)
{
    static tp_agent_config config = {
        "tinyprof-rp2040/0.1.0", "rp2040", "RP2040", 0, 264u * 1024, 0, PICO_FLASH_SIZE_BYTES, TP_CAP_CANCEL};
    const char *failed;
    config.cpu_mhz = (uint16_t)(clock_get_hz(clk_sys) / 1000000u);

    uart_init(UART, BAUD);
    gpio_set_function(TX_PIN, GPIO_FUNC_UART);
    gpio_set_function(RX_PIN, GPIO_FUNC_UART);
    failed = board_memory();
    tp_agent_init(&agent, &config); /* before the RX interrupt: it clears the ring */
    if (failed != NULL)
        log_text(failed);
    if (rt.flash_model != NULL) {
        if (!tp_rt_port_flash_info(&flash_model.info))
            log_text("flash model not loaded: the runtime refused it (wrong TP_MODEL_BYTES, or not a model)");
        else if (!hex_sha256(TP_MODEL_SHA256, flash_model.sha256))
            log_text("TP_MODEL_SHA256 is not 64 hex digits");
        else
            tp_agent_set_model(&agent, &flash_model);
    }
    irq_set_exclusive_handler(UART_IRQ, on_uart_rx);
    irq_set_enabled(UART_IRQ, true);
    uart_set_irq_enables(UART, true, false);

    /* No __wfi(): a byte landing between the poll and the sleep would wait
     * for the next interrupt. Benchmarks want latency, not idle power. */
    for (;;)
        tp_agent_poll(&agent);
}
