/*
 * tinyprof_rp2040.c - the tinyprof agent on a Raspberry Pi Pico (RP2040,
 * Pico SDK 1.5+): UART0 on GPIO 0/1 with an RX interrupt, the 64-bit
 * microsecond timer, pico_rand, a model programmed into the top of the
 * flash and read in place through XIP, and a watchdog reboot.
 *
 * Pico SDK reference: https://www.raspberrypi.com/documentation/pico-sdk/
 * (hardware_uart, hardware_flash, hardware_watchdog, pico_rand).
 *
 * Build with -DTP_MODEL_WINDOW=1 (CMakeLists.txt does): flash writes run
 * with interrupts off, so bytes arriving during a 4 KiB erase (~50 ms, 500+
 * bytes at 115200 baud) would overflow the 32-byte UART FIFO. With one chunk
 * in flight the host is silent until the chunk is stored and acknowledged.
 */
#include <malloc.h>
#include <stdint.h>
#include <string.h>

#include "hardware/clocks.h"
#include "hardware/flash.h"
#include "hardware/gpio.h"
#include "hardware/irq.h"
#include "hardware/sync.h"
#include "hardware/uart.h"
#include "hardware/watchdog.h"
#include "pico/rand.h"
#include "pico/stdlib.h"

#include "tinyprof_agent.h"
#include "tp_llama2.h"

#if TP_MODEL_WINDOW != 1
#error "build the agent with -DTP_MODEL_WINDOW=1 on RP2040 (see the comment above)"
#endif

#define UART uart0
#define UART_IRQ UART0_IRQ
#define TX_PIN 0
#define RX_PIN 1
#define BAUD 115200

/* The model occupies the top MODEL_FLASH_BYTES of the flash; the program
 * must end below it (checked against the linker's __flash_binary_end). */
#ifndef MODEL_FLASH_BYTES
#define MODEL_FLASH_BYTES (PICO_FLASH_SIZE_BYTES - 512 * 1024)
#endif
#define MODEL_OFFSET (PICO_FLASH_SIZE_BYTES - MODEL_FLASH_BYTES)

extern char __flash_binary_end; /* pico linker script: end of the program in XIP address space */
extern char __end__, __HeapLimit; /* pico linker script: the malloc heap */

static tp_agent agent;

static struct {
    uint32_t size, erased, programmed;
    uint8_t page[FLASH_PAGE_SIZE];
    size_t page_len;
} model;

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

void tp_port_metrics(tp_metrics *m)
{
    /* newlib's allocator: the heap runs from __end__ to __HeapLimit. */
    struct mallinfo mi = mallinfo();
    uint32_t total = (uint32_t)(&__HeapLimit - &__end__);
    m->free_heap = total - (uint32_t)mi.uordblks;
    m->largest_free_block = m->free_heap; /* an upper bound: newlib does not say */
    /* min_free_heap left 0: newlib keeps no low-water mark. */
}

void tp_port_reset(void)
{
    uart_tx_wait_blocking(UART); /* let RESET_ACK out */
    watchdog_reboot(0, 0, 1);    /* pc 0: a normal boot, 1 ms from now */
    for (;;)
        tight_loop_contents();
}

/* ---- model storage: XIP flash, a sector erased and a page programmed at a time ---- */

/* flash_range_erase and flash_range_program take offsets from the start of
 * flash, need 4096- and 256-byte alignment, and must not run while anything
 * executes from flash: interrupts go off, and core 1 stays unused. */
static void program_page(void)
{
    uint32_t off = MODEL_OFFSET + model.programmed, ints;
    memset(model.page + model.page_len, 0xff, sizeof model.page - model.page_len);
    ints = save_and_disable_interrupts();
    if (model.programmed == model.erased) {
        flash_range_erase(off, FLASH_SECTOR_SIZE);
        model.erased += FLASH_SECTOR_SIZE;
    }
    flash_range_program(off, model.page, FLASH_PAGE_SIZE);
    restore_interrupts(ints);
    model.programmed += FLASH_PAGE_SIZE;
    model.page_len = 0;
}

int tp_port_model_begin(uint32_t size, const char *name, uint8_t name_len)
{
    (void)name;
    (void)name_len;
    tp_llama2_unload();
    if ((uintptr_t)&__flash_binary_end > XIP_BASE + MODEL_OFFSET || size > MODEL_FLASH_BYTES)
        return TP_ERR_MODEL_TOO_LARGE;
    model.size = size;
    model.erased = model.programmed = 0;
    model.page_len = 0;
    return TP_OK;
}

int tp_port_model_chunk(uint32_t offset, const uint8_t *p, size_t n)
{
    (void)offset; /* chunks arrive in order */
    while (n > 0) {
        size_t k = sizeof model.page - model.page_len;
        if (k > n)
            k = n;
        memcpy(model.page + model.page_len, p, k);
        model.page_len += k;
        p += k;
        n -= k;
        if (model.page_len == sizeof model.page)
            program_page();
    }
    return TP_OK;
}

int tp_port_model_end(tp_model_info *info)
{
    if (model.page_len > 0)
        program_page();
    /* flash_range_program flushes the XIP cache, so the mapping is current. */
    return tp_llama2_load((const void *)(XIP_BASE + MODEL_OFFSET), model.size, TP_REGION_FLASH, info);
}

/* ---- inference ---- */

int tp_port_gen_start(tp_gen *g)
{
    struct mallinfo mi;
    int r = tp_llama2_start(g);
    mi = mallinfo();
    g->peak_heap = (uint32_t)mi.arena; /* the heap never shrinks: its size is the peak */
    return r;
}

int tp_port_gen_next(tp_gen *g, uint32_t *token) { return tp_llama2_next(g, token); }

/* ---- main ---- */

int main(void)
{
    static tp_agent_config config = {
        "tinyprof-rp2040/0.1.0", "rp2040", "RP2040", 0, 264u * 1024, 0, PICO_FLASH_SIZE_BYTES, TP_CAP_CANCEL};
    config.cpu_mhz = (uint16_t)(clock_get_hz(clk_sys) / 1000000u);

    uart_init(UART, BAUD);
    gpio_set_function(TX_PIN, GPIO_FUNC_UART);
    gpio_set_function(RX_PIN, GPIO_FUNC_UART);
    tp_agent_init(&agent, &config); /* before the RX interrupt: it clears the ring */
    irq_set_exclusive_handler(UART_IRQ, on_uart_rx);
    irq_set_enabled(UART_IRQ, true);
    uart_set_irq_enables(UART, true, false);

    /* No __wfi(): a byte landing between the poll and the sleep would wait
     * for the next interrupt. Benchmarks want latency, not idle power. */
    for (;;)
        tp_agent_poll(&agent);
}
