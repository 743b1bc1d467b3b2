/*
 * main.c - the tinyprof agent on an emulated Cortex-M board: the board half
 * of tinyprof_port.h (serial line, clock, boot id, metrics, reset) and the
 * main loop. The inference hooks are the runtime's (firmware/runtime,
 * tp_runtime_port.h), to which the board hands its memory at boot.
 *
 * Receive path: UART interrupt -> rx ring (here) -> tp_agent_rx -> the
 * agent's own ring -> tp_agent_poll. The main loop hands the agent at most
 * TP_RX_RING bytes per poll, and tp_agent_poll drains its ring completely,
 * so the agent never overflows; when the ring here is full the driver
 * leaves the next byte in the UART, which on QEMU holds the host back.
 *
 * Clock: the target's free-running counter (TP_BOARD_COUNTER; the MPS2
 * FPGA's COUNTER register) or else SysTick, extended to 64 bits. Under
 * QEMU's -icount shift=0 both run on instruction-count time (1 ns per
 * instruction) and stand still while the core sleeps, so the times the
 * agent reports count the instructions the firmware executed: exact and
 * the same in every run, but not cycle-accurate.
 */
#include <string.h>

#include "board.h"
#include "tinyprof_agent.h"
#include "tp_runtime_port.h"

#define TICKS_PER_US (TP_BOARD_TICK_HZ / 1000000u)
#ifndef TP_BOARD_RX_RING
#define TP_BOARD_RX_RING 1024u
#endif
#if (TP_BOARD_RX_RING & (TP_BOARD_RX_RING - 1u)) != 0
#error "TP_BOARD_RX_RING must be a power of two"
#endif

/* Linker script symbols (link.ld of each target). */
extern uint8_t __arena_start[], __arena_end[];
extern uint8_t __model_buf_start[], __model_buf_end[];
/* A model linked into flash by flash_model.S, if the build has one. */
extern const uint8_t tp_flash_model[] __attribute__((weak));
extern const uint8_t tp_flash_model_end[] __attribute__((weak));
extern const uint8_t tp_flash_model_sha256[] __attribute__((weak));

/* tp_board_seed is written by the harness before boot (QEMU's generic
 * loader); tp_board_boots counts boots. Both live in .noinit, which
 * startup.c leaves alone, so a reset changes the boot id even though an
 * emulated board is otherwise deterministic. */
volatile uint32_t tp_board_seed __attribute__((section(".noinit")));
static volatile uint32_t boots_magic __attribute__((section(".noinit")));
static volatile uint32_t boots __attribute__((section(".noinit")));
#define BOOTS_MAGIC 0x7470626fu

static tp_agent agent;
static tp_rt_board rt;
static tp_agent_model flash_model; /* the model linked into flash, once loaded */

static const tp_agent_config config = {
    "tinyprof-agent/0.1.0 (" TP_BOARD_MACHINE ", emulated)",
    TP_BOARD_MACHINE,
    TP_BOARD_CHIP,
    TP_BOARD_TICK_HZ / 1000000u,
    TP_BOARD_SRAM,
    TP_BOARD_PSRAM,
    TP_BOARD_FLASH,
    TP_CAP_CANCEL | TP_CAP_EMULATED | (TP_BOARD_PSRAM ? TP_CAP_PSRAM : 0),
};

/* The receive ring, written by the UART interrupt, read by the main loop. */
static uint8_t ring[TP_BOARD_RX_RING];
static volatile uint32_t ring_head, ring_tail;
static volatile uint8_t ring_stalled;

int board_rx_room(void)
{
    if (ring_head - ring_tail < TP_BOARD_RX_RING)
        return 1;
    ring_stalled = 1;
    return 0;
}

void board_rx_push(uint8_t b)
{
    uint32_t head = ring_head;
    ring[head & (TP_BOARD_RX_RING - 1u)] = b;
    ring_head = head + 1u;
}

/* feed moves up to TP_RX_RING received bytes into the agent. */
static void feed(void)
{
    uint8_t buf[64];
    uint32_t budget = TP_RX_RING;
    while (budget > 0) {
        uint32_t tail = ring_tail, n = ring_head - tail, i;
        if (n == 0)
            break;
        if (n > sizeof buf)
            n = sizeof buf;
        if (n > budget)
            n = budget;
        for (i = 0; i < n; i++)
            buf[i] = ring[(tail + i) & (TP_BOARD_RX_RING - 1u)];
        ring_tail = tail + n;
        budget -= n;
        tp_agent_rx(&agent, buf, n);
    }
    if (ring_stalled) {
        irq_disable();
        ring_stalled = 0;
        uart_rx_resume();
        irq_enable();
    }
}

#ifdef TP_BOARD_COUNTER
/* The 64-bit tick count from a free-running 32-bit counter that QEMU
 * computes from virtual time when it is read, with no timer behind it, so
 * an idle board arms nothing and costs the host nothing. Reads are only
 * made from the main loop; they must come less than 2^32 ticks apart
 * (172 s of virtual time at 25 MHz), which every poll of a generation and
 * every request does. */
#define COUNTER TP_REG(TP_BOARD_COUNTER)
static uint64_t tick_acc, tick_boot;
static uint32_t tick_prev;

void SysTick_Handler(void) {}

/* tick_backsteps counts reads that went backwards, which should not
 * happen after clock_init; it is there to be read with a debugger. */
static volatile uint32_t tick_backsteps;

static uint64_t ticks(void)
{
    uint32_t now = COUNTER, step = now - tick_prev;
    tick_prev = now;
    if ((int32_t)step < 0) {
        tick_backsteps++; /* not a wrap: 2^31 ticks did not pass unseen */
        return tick_acc;
    }
    tick_acc += step;
    return tick_acc;
}

static void clock_init(void)
{
    /* QEMU 7.2 can reset the counter at a virtual time ahead of the one
     * the core starts at, and its first reads are then garbage; a read
     * brings its bookkeeping up to date and the write restarts it. */
    (void)COUNTER;
    COUNTER = 0;
    tick_prev = COUNTER;
    tick_boot = ticks();
}

static void clock_sleep(void) {}
static void clock_wake(void) {}
#else
/* The 64-bit tick count from SysTick, with its wraps counted by the
 * SysTick interrupt. SysTick is stopped while the core sleeps (see idle):
 * with -icount sleep=off virtual time does not pass then, but a running
 * timer would make QEMU jump from one wrap to the next, spinning the host.
 * Stopped, it holds its count; QEMU restarts its tick phase when it is
 * enabled again, so each sleep can lose up to one tick. */
#define SYST_RELOAD 0x00FFFFFFu
#define SYST_PERIOD (SYST_RELOAD + 1u)
static volatile uint64_t tick_base;
static uint64_t tick_last, tick_boot;

void SysTick_Handler(void) { tick_base += SYST_PERIOD; }

static uint64_t ticks(void)
{
    uint64_t base, t;
    uint32_t v;
    irq_disable();
    base = tick_base;
    v = SYST_CVR;
    if (SCB_ICSR & ICSR_PENDSTSET) {
        /* It wrapped, and the interrupt that counts it has not run yet:
         * read again after the wrap and count it here. */
        v = SYST_CVR;
        base += SYST_PERIOD;
    }
    t = base + (SYST_RELOAD - v);
    if (t < tick_last)
        t = tick_last; /* belt and braces: never run backwards */
    tick_last = t;
    irq_enable();
    return t;
}

static void clock_init(void)
{
    SYST_RVR = SYST_RELOAD;
    SYST_CVR = 0;
    SYST_CSR = 7u; /* processor clock, interrupt, enable */
    tick_boot = ticks();
}

static void clock_sleep(void) { SYST_CSR = 6u; }
static void clock_wake(void) { SYST_CSR = 7u; }
#endif

void tp_port_write(const uint8_t *p, size_t n) { uart_write(p, (uint32_t)n); }

uint64_t tp_port_time_us(void) { return (ticks() - tick_boot) / TICKS_PER_US + 1u; }

/* mix is a 32-bit finaliser (the MurmurHash3 fmix32 constants). */
static uint32_t mix(uint32_t x)
{
    x ^= x >> 16;
    x *= 0x85ebca6bu;
    x ^= x >> 13;
    x *= 0xc2b2ae35u;
    x ^= x >> 16;
    return x;
}

uint32_t tp_port_random(void)
{
    uint32_t x = mix(tp_board_seed ^ mix(boots * 0x9e3779b9u) ^ (uint32_t)ticks());
    return x ? x : 1u;
}

void tp_port_metrics(tp_metrics *m)
{
    uint32_t cap = rt.arena_cap, used = tp_rt_arena_used(), peak = tp_rt_arena_peak();
    if (used > cap)
        used = cap;
    if (peak < used)
        peak = used;
    if (peak > cap)
        peak = cap;
    memset(m, 0, sizeof *m);
    /* SRAM beyond the firmware's static data and stack is the arena, a
     * bump allocator: what is free is one block. */
    m->free_heap = cap - used;
    m->min_free_heap = cap - peak;
    m->largest_free_block = cap - used;
    if (TP_BOARD_PSRAM) {
        uint32_t held = tp_rt_model_bytes();
        static uint32_t most;
        if (held > rt.model_cap)
            held = rt.model_cap;
        if (held > most)
            most = held;
        m->psram_free = TP_BOARD_PSRAM - held;
        m->psram_min_free = TP_BOARD_PSRAM - most;
    }
}

void tp_port_reset(void)
{
    __asm volatile("dsb" ::: "memory");
    SCB_AIRCR = AIRCR_RESET;
    __asm volatile("dsb" ::: "memory");
    for (;;)
        __asm volatile("wfi");
}

/* idle sleeps until an interrupt, unless a byte came in since feed. */
static void idle(void)
{
    irq_disable();
    if (ring_head == ring_tail && !ring_stalled) {
        clock_sleep();
        __asm volatile("dsb\n\twfi" ::: "memory");
        clock_wake();
    }
    irq_enable();
}

int main(void)
{
    if (boots_magic != BOOTS_MAGIC) {
        boots_magic = BOOTS_MAGIC;
        boots = 0;
    }
    boots = boots + 1u;

    rt.model_buf = __model_buf_start;
    rt.model_cap = (uint32_t)(__model_buf_end - __model_buf_start);
    rt.model_region = TP_BOARD_MODEL_REGION;
    if (tp_flash_model && tp_flash_model_end) {
        rt.flash_model = tp_flash_model;
        rt.flash_model_len = (uint32_t)(tp_flash_model_end - tp_flash_model);
    }
    rt.arena = __arena_start;
    rt.arena_cap = (uint32_t)(__arena_end - __arena_start);
    rt.ctx_max = TP_BOARD_CTX_MAX;
    tp_rt_port_init(&rt);

    clock_init();
    uart_init();
    tp_agent_init(&agent, &config);
    if (tp_flash_model_sha256 && tp_rt_port_flash_info(&flash_model.info)) {
        memcpy(flash_model.sha256, tp_flash_model_sha256, 32);
        tp_agent_set_model(&agent, &flash_model);
    }
    for (;;) {
        feed();
        if (!tp_agent_poll(&agent))
            idle();
    }
}
