/*
 * host/main.c - the tinyprof agent as a host program: it speaks the
 * protocol on stdin/stdout (a pty or pipes, raw). Tests start it behind a
 * pty. By default its inference backend is a trivial deterministic
 * generator that accepts any upload:
 *
 *   cc -std=c99 -O2 -I.. main.c ../tinyprof_agent.c -o tinyprof-host
 *
 * With -DTP_HOST_RUNTIME it runs the real inference runtime instead
 * (firmware/runtime), with a 16 MiB upload buffer and an 8 MiB arena, and
 * reports the arena's real figures in METRICS:
 *
 *   cc -std=c99 -O2 -ffp-contract=off -DTP_HOST_RUNTIME -I.. -I../../runtime main.c \
 *      ../tinyprof_agent.c ../../runtime/tp_rt_*.c ../../runtime/tp_runtime_port.c -o tinyprof-host-rt
 *
 * There TINYPROF_MODEL names a model file to hold from boot, as a board
 * holds one in flash, and TINYPROF_MODEL_SHA256 gives its SHA-256 in hex.
 *
 * The environment variable TINYPROF_TOKEN_US sets the stand-in's simulated
 * time per token (default 100 µs). TINYPROF_FIRMWARE, TINYPROF_PLATFORM and
 * TINYPROF_CHIP replace INFO's strings, and TINYPROF_BOOT_LOG is sent as a
 * LOG line after the boot INFO, so that tests can give the agent text longer
 * than its payload limit.
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <stdio.h>

#include "tinyprof_agent.h"
#ifdef TP_HOST_RUNTIME
#include "tp_runtime_port.h"
#endif

#define MODEL_LIMIT (16u << 20)

static tp_agent agent;
static uint64_t boot_ns;
static long token_us = 100;

#ifndef TP_HOST_RUNTIME
static struct {
    uint32_t size, hash;
} model;

static uint32_t rng;
#endif

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

#ifndef TP_HOST_RUNTIME
static void sleep_us(long us)
{
    struct timespec ts;
    ts.tv_sec = us / 1000000;
    ts.tv_nsec = (us % 1000000) * 1000;
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

#endif

static void write_all(const void *p, size_t n)
{
    const uint8_t *b = (const uint8_t *)p;
    while (n > 0) {
        ssize_t w = write(1, b, n);
        if (w < 0) {
            if (errno == EINTR || errno == EAGAIN)
                continue;
            exit(0); /* the host hung up */
        }
        b += w;
        n -= (size_t)w;
    }
}

static void boot_text(void)
{
    static const char text[] = "tinyprof host agent: boot\r\n";
    write_all(text, sizeof text - 1);
}

void tp_port_write(const uint8_t *p, size_t n) { write_all(p, n); }

uint64_t tp_port_time_us(void) { return (now_ns() - boot_ns) / 1000u + 1; }

uint32_t tp_port_random(void)
{
    uint64_t x = now_ns() ^ ((uint64_t)getpid() << 32);
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdu;
    x ^= x >> 33;
    return (uint32_t)x | 1;
}

#ifdef TP_HOST_RUNTIME
#define ARENA_LIMIT (8u << 20)
static uint8_t upload_buf[MODEL_LIMIT], arena_buf[ARENA_LIMIT], flash_buf[MODEL_LIMIT];
static tp_rt_board board;
static tp_agent_model boot_model;

void tp_port_metrics(tp_metrics *m)
{
    m->free_heap = ARENA_LIMIT - tp_rt_arena_used();
    m->min_free_heap = ARENA_LIMIT - tp_rt_arena_peak();
    m->largest_free_block = m->free_heap;
    m->psram_free = MODEL_LIMIT - tp_rt_model_bytes();
    m->psram_min_free = m->psram_free;
}

/* A reset reloads the boot model, as a reboot would. */
void tp_port_reset(void)
{
    tp_rt_port_init(&board);
    boot_text();
}

static int hexval(char c)
{
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

/* runtime_init hands the runtime its memory and the boot model, if
 * TINYPROF_MODEL names one; it exits with a message on a bad one. */
static void runtime_init(void)
{
    const char *path = getenv("TINYPROF_MODEL"), *sum = getenv("TINYPROF_MODEL_SHA256");
    int i;
    board.model_buf = upload_buf;
    board.model_cap = MODEL_LIMIT;
    board.model_region = TP_REGION_PSRAM;
    board.arena = arena_buf;
    board.arena_cap = ARENA_LIMIT;
    if (path) {
        FILE *f = fopen(path, "rb");
        size_t n = f ? fread(flash_buf, 1, sizeof flash_buf, f) : 0;
        if (!f || ferror(f) || !feof(f) || !sum || strlen(sum) != 64) {
            fprintf(stderr, "tinyprof-host: TINYPROF_MODEL %s: unreadable, over 16 MiB, or no 64-digit TINYPROF_MODEL_SHA256\n", path);
            exit(2);
        }
        fclose(f);
        for (i = 0; i < 32; i++) {
            int hi = hexval(sum[2 * i]), lo = hexval(sum[2 * i + 1]);
            if (hi < 0 || lo < 0) {
                fprintf(stderr, "tinyprof-host: TINYPROF_MODEL_SHA256 is not hex\n");
                exit(2);
            }
            boot_model.sha256[i] = (uint8_t)(hi << 4 | lo);
        }
        board.flash_model = flash_buf;
        board.flash_model_len = (uint32_t)n;
    }
    tp_rt_port_init(&board);
    if (path && !tp_rt_port_flash_info(&boot_model.info)) {
        fprintf(stderr, "tinyprof-host: TINYPROF_MODEL %s: the runtime refused it (error %d)\n", path, tp_rt_port_last_error());
        exit(2);
    }
}
#else
void tp_port_metrics(tp_metrics *m)
{
    m->free_heap = 400000 - (model.size > 200000 ? 200000 : model.size);
    m->min_free_heap = m->free_heap - 1000;
    m->largest_free_block = m->free_heap / 2;
    m->cpu_load_permille = 0;
}

void tp_port_reset(void) { boot_text(); }

int tp_port_model_begin(uint32_t size, const char *name, uint8_t name_len)
{
    (void)name;
    (void)name_len;
    if (size > MODEL_LIMIT)
        return TP_ERR_MODEL_TOO_LARGE;
    model.size = size;
    model.hash = 2166136261u;
    return TP_OK;
}

int tp_port_model_chunk(uint32_t offset, const uint8_t *p, size_t n)
{
    (void)offset;
    while (n--)
        model.hash = (model.hash ^ *p++) * 16777619u;
    return TP_OK;
}

int tp_port_model_end(tp_model_info *info)
{
    static const char msg[] = "model loaded into SRAM";
    info->region = TP_REGION_SRAM;
    info->bytes = model.size;
    info->parameters = model.size / 4;
    tp_agent_log(&agent, TP_LOG_INFO, msg, sizeof msg - 1);
    return TP_OK;
}

int tp_port_gen_start(tp_gen *g)
{
    uint8_t i;
    uint16_t words = 0;
    int in_word = 0;
    for (i = 0; i < g->prompt_len; i++) {
        int space = g->prompt[i] == ' ';
        if (!space && !in_word)
            words++;
        in_word = !space;
    }
    g->prompt_tokens = words ? words : 1;
    g->peak_heap = 4096 + 64u * g->prompt_len;
    rng = (g->seed ^ model.hash) | 1;
    sleep_us(token_us * g->prompt_tokens / 4);
    return TP_OK;
}

int tp_port_gen_next(tp_gen *g, uint32_t *token)
{
    (void)g;
    rng ^= rng << 13;
    rng ^= rng >> 17;
    rng ^= rng << 5;
    *token = rng % 512;
    sleep_us(token_us);
    return 1;
}

#endif

/* env_or returns the environment variable name, or def if it is unset. */
static const char *env_or(const char *name, const char *def)
{
    const char *v = getenv(name);
    return v ? v : def;
}

int main(void)
{
    static tp_agent_config cfg = {
        "tinyprof-agent/0.1.0", "host", "host build", 1000, 512u * 1024, 0, 4u << 20, TP_CAP_CANCEL};
    uint8_t buf[TP_RX_RING];
    const char *env = getenv("TINYPROF_TOKEN_US");
    const char *boot_log = getenv("TINYPROF_BOOT_LOG");
    if (env)
        token_us = atol(env);
    cfg.firmware = env_or("TINYPROF_FIRMWARE", cfg.firmware);
    cfg.platform = env_or("TINYPROF_PLATFORM", cfg.platform);
    cfg.chip = env_or("TINYPROF_CHIP", cfg.chip);
    boot_ns = now_ns();
#ifdef TP_HOST_RUNTIME
    runtime_init();
    cfg.psram = MODEL_LIMIT;
    cfg.capabilities |= TP_CAP_PSRAM;
#endif
    boot_text();
    tp_agent_init(&agent, &cfg);
#ifdef TP_HOST_RUNTIME
    if (board.flash_model)
        tp_agent_set_model(&agent, &boot_model);
#endif
    if (boot_log)
        tp_agent_log(&agent, TP_LOG_INFO, boot_log, strlen(boot_log));
    for (;;) {
        struct pollfd pfd;
        int busy = tp_agent_poll(&agent);
        pfd.fd = 0;
        pfd.events = POLLIN;
        pfd.revents = 0;
        if (poll(&pfd, 1, busy ? 0 : -1) < 0) {
            if (errno == EINTR)
                continue;
            return 1;
        }
        if (pfd.revents & (POLLIN | POLLHUP | POLLERR)) {
            ssize_t n = read(0, buf, sizeof buf);
            if (n == 0)
                return 0;
            if (n < 0) {
                if (errno == EINTR || errno == EAGAIN)
                    continue;
                return 0; /* EIO: the pty's master closed */
            }
            tp_agent_rx(&agent, buf, (size_t)n);
        }
    }
}
