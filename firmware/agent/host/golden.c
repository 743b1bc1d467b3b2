/*
 * host/golden.c - checks the agent's encoder and decoder against
 * firmware/testdata/golden.txt. It includes the agent's source to reach its
 * message builders and prints:
 *
 *   enc <name> <seq> <hex>            the agent's encoding of each device message
 *   dec <name> <type> <seq> <hex>     for each "name seq hex" line on stdin, the
 *                                     frame the agent's receiver decoded
 *   bad <name>                        a line whose bytes it rejected
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

static void seen(uint8_t type, uint16_t seq, const uint8_t *p, size_t n);
#define TP_TEST_FRAME_HOOK seen
#include "../tinyprof_agent.c"

static uint64_t now_us;
static tp_metrics metrics;
static int frames;

void tp_port_write(const uint8_t *p, size_t n)
{
    while (n--)
        printf("%02x", *p++);
}
uint64_t tp_port_time_us(void) { return now_us; }
uint32_t tp_port_random(void) { return 0; }
void tp_port_metrics(tp_metrics *m) { *m = metrics; }
void tp_port_reset(void) {}
int tp_port_model_begin(uint32_t size, const char *name, uint8_t name_len)
{
    (void)size, (void)name, (void)name_len;
    return 0;
}
int tp_port_model_chunk(uint32_t offset, const uint8_t *p, size_t n)
{
    (void)offset, (void)p, (void)n;
    return 0;
}
int tp_port_model_end(tp_model_info *info)
{
    (void)info;
    return 0;
}
int tp_port_gen_start(tp_gen *g)
{
    (void)g;
    return 0;
}
int tp_port_gen_next(tp_gen *g, uint32_t *token)
{
    (void)g, (void)token;
    return 0;
}

static char name[64];

static void seen(uint8_t type, uint16_t seq, const uint8_t *p, size_t n)
{
    printf("dec %s %u %u ", name, type, seq);
    while (n--)
        printf("%02x", *p++);
    printf("\n");
    frames++;
}

static tp_agent a;

static void enc(const char *n, void (*build)(void))
{
    printf("enc %s ", n);
    build();
    printf("\n");
}

static const tp_agent_config info_cfg = {"tinyprof-agent/0.1.0", "esp32s3", "ESP32-S3 rev0.2", 240,
                                         512u * 1024, 8u << 20, 16u << 20, TP_CAP_CANCEL | TP_CAP_PSRAM};
static const tp_agent_config boot_cfg = {"fw", "rp2040", "RP2040", 133, 264u * 1024, 0, 2u << 20, 0};

static void b_info(void)
{
    a.cfg = &info_cfg;
    a.boot_id = 0xC0FFEE01u;
    send_info(&a, 1);
}
static void b_info_boot(void)
{
    a.cfg = &boot_cfg;
    a.boot_id = 7;
    send_info(&a, 0);
}
static void b_pong(void)
{
    static const uint8_t d[] = {0x00, 0x01, 0xFF, 'h', 'i'};
    frame_begin(&a, T_PONG, 2);
    put_bytes(&a, d, sizeof d);
    frame_end(&a);
}
static void b_reset_ack(void) { send_empty(&a, T_RESET_ACK, 4); }
static void b_model_ack(void)
{
    a.up_off = 3000;
    a.up_chunk = 1000;
    a.up_window = 4;
    send_model_ack(&a, 6);
}
static void b_model_done(void)
{
    uint8_t sha[32];
    tp_model_info m;
    int i;
    for (i = 0; i < 32; i++)
        sha[i] = (uint8_t)(i * 7);
    m.region = TP_REGION_PSRAM;
    m.bytes = 1u << 20;
    m.parameters = 260000;
    send_model_done(&a, 7, sha, &m);
}
static void b_tokens(void)
{
    a.gen_seq = 8;
    a.batch_index = 16;
    a.batch_n = 3;
    a.batch_id[0] = 1, a.batch_t[0] = 1000000;
    a.batch_id[1] = 300, a.batch_t[1] = 1052631;
    a.batch_id[2] = 511, a.batch_t[2] = 1105262;
    send_tokens(&a);
}
static void b_tokens_empty(void)
{
    frame_begin(&a, T_TOKENS, 8);
    put_le(&a, 0, 2);
    frame_end(&a);
}
static void b_gen_done(void)
{
    a.gen_seq = 8;
    a.gen_count = 64;
    a.gen.prompt_tokens = 5;
    a.gen_start = 999000;
    a.gen_prefill = 260000;
    a.gen_first = a.gen_start + 312631;
    a.gen_last = a.gen_first + 3315753;
    a.gen.peak_heap = 180000;
    a.gen.peak_psram = 1700000;
    send_gen_done(&a, STOP_LENGTH);
}
static void b_metrics(void)
{
    now_us = 5000000;
    metrics.free_heap = 300000;
    metrics.min_free_heap = 250000;
    metrics.largest_free_block = 200000;
    metrics.psram_free = 6u << 20;
    metrics.psram_min_free = 5u << 20;
    metrics.cpu_load_permille = 975;
    metrics.has_power = 1;
    metrics.power_uw = 350000;
    metrics.voltage_mv = 3300;
    metrics.current_ua = 106060;
    on_metrics(&a, 9);
}
static void b_log(void)
{
    static const char t[] = "model loaded into PSRAM";
    now_us = 123456;
    tp_agent_log(&a, TP_LOG_INFO, t, sizeof t - 1);
}
static void b_error(void) { send_error(&a, 11, TP_ERR_MODEL_TOO_LARGE, T_MODEL_BEGIN, "model 9 MiB exceeds 8 MiB PSRAM"); }

static int hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

int main(void)
{
    static char line[4096];
    a.max_payload = 1024;
    enc("info", b_info);
    enc("info_boot", b_info_boot);
    enc("pong", b_pong);
    enc("reset_ack", b_reset_ack);
    enc("model_ack", b_model_ack);
    enc("model_done", b_model_done);
    enc("tokens", b_tokens);
    enc("tokens_empty", b_tokens_empty);
    enc("gen_done", b_gen_done);
    enc("metrics", b_metrics);
    enc("log", b_log);
    enc("error", b_error);

    while (fgets(line, sizeof line, stdin)) {
        char hex[4096];
        unsigned seq;
        size_t i;
        if (line[0] == '#' || sscanf(line, "%63s %u %4095s", name, &seq, hex) != 3)
            continue;
        frames = 0;
        for (i = 0; hex[i] && hex[i + 1]; i += 2) {
            int hi = hexval(hex[i]), lo = hexval(hex[i + 1]);
            rx_byte(&a, (uint8_t)(hi << 4 | lo));
        }
        if (frames != 1)
            printf("bad %s\n", name);
    }
    return 0;
}
