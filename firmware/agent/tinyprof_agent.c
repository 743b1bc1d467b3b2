//go:build ignore

// The line above keeps the Go tool from treating this directory as a cgo
// package; C compilers see an ordinary comment.

/*
 * tinyprof_agent.c - device side of the tinyprof wire protocol, version 1.
 * See tinyprof_agent.h and firmware/PROTOCOL.md.
 */
#include "tinyprof_agent.h"

#include <string.h>

#define TP_PROTOCOL_VERSION 1

/* Message types (PROTOCOL.md §3). */
enum {
    T_HELLO = 0x01, T_PING = 0x02, T_RESET = 0x03, T_MODEL_BEGIN = 0x04,
    T_MODEL_CHUNK = 0x05, T_MODEL_END = 0x06, T_GENERATE = 0x07,
    T_GET_METRICS = 0x08, T_CANCEL = 0x0B,
    T_INFO = 0x81, T_PONG = 0x82, T_RESET_ACK = 0x83, T_MODEL_ACK = 0x84,
    T_MODEL_DONE = 0x85, T_TOKENS = 0x86, T_GEN_DONE = 0x87, T_METRICS = 0x88,
    T_LOG = 0x89, T_ERROR = 0x8A
};

enum { STOP_LENGTH = 0, STOP_EOS = 1, STOP_CANCELLED = 2, STOP_CONTEXT = 3 };

#define RX_CAP ((uint16_t)(TP_MAX_PAYLOAD + TP_FRAME_OVERHEAD))
#define TX_CAP ((uint16_t)(TP_MAX_PAYLOAD + TP_FRAME_OVERHEAD))

/* Every reply must fit the smallest limit a host may state, 64 bytes, so
 * that none is ever cut. The fixed-size ones: */
#define METRICS_LEN 41    /* 8 + 5 * 4 + 2 + 1 + 4 + 2 + 4 */
#define MODEL_DONE_LEN 41 /* 32 + 1 + 4 + 4 */
#define GEN_DONE_LEN 33   /* 2 + 2 + 8 + 5 * 4 + 1 */
/* INFO without its three strings' bytes; at 64 they share 38 bytes. */
#define INFO_FIXED_LEN 26 /* 1 + 3 length bytes + 2 + 3 * 4 + 2 + 4 + 2 */
/* ERROR without its text, LOG without its text. */
#define ERROR_FIXED_LEN 3
#define LOG_FIXED_LEN 10
/* A TOKENS batch of one token: index, a 10-byte t0, a 5-byte id, delta 0. */
#define TOKENS_ONE_LEN 18
#if METRICS_LEN > 64 || MODEL_DONE_LEN > 64 || GEN_DONE_LEN > 64 || INFO_FIXED_LEN + 3 > 64 || TOKENS_ONE_LEN > 64
#error "a fixed-size reply does not fit a 64-byte payload"
#endif

/* ---- CRC-32/ISO-HDLC, a 16-entry table: 64 bytes of flash. ---- */

static const uint32_t crc_nibble[16] = {
    0x00000000u, 0x1DB71064u, 0x3B6E20C8u, 0x26D930ACu, 0x76DC4190u, 0x6B6B51F4u,
    0x4DB26158u, 0x5005713Cu, 0xEDB88320u, 0xF00F9344u, 0xD6D6A3E8u, 0xCB61B38Cu,
    0x9B64C2B0u, 0x86D3D2D4u, 0xA00AE278u, 0xBDBDF21Cu};

static uint32_t crc32(const uint8_t *p, size_t n)
{
    uint32_t c = 0xFFFFFFFFu;
    while (n--) {
        c ^= *p++;
        c = (c >> 4) ^ crc_nibble[c & 15];
        c = (c >> 4) ^ crc_nibble[c & 15];
    }
    return c ^ 0xFFFFFFFFu;
}

/* ---- SHA-256 (FIPS 180-4). ---- */

static const uint32_t sha_k[64] = {
    0x428a2f98u, 0x71374491u, 0xb5c0fbcfu, 0xe9b5dba5u, 0x3956c25bu, 0x59f111f1u, 0x923f82a4u, 0xab1c5ed5u,
    0xd807aa98u, 0x12835b01u, 0x243185beu, 0x550c7dc3u, 0x72be5d74u, 0x80deb1feu, 0x9bdc06a7u, 0xc19bf174u,
    0xe49b69c1u, 0xefbe4786u, 0x0fc19dc6u, 0x240ca1ccu, 0x2de92c6fu, 0x4a7484aau, 0x5cb0a9dcu, 0x76f988dau,
    0x983e5152u, 0xa831c66du, 0xb00327c8u, 0xbf597fc7u, 0xc6e00bf3u, 0xd5a79147u, 0x06ca6351u, 0x14292967u,
    0x27b70a85u, 0x2e1b2138u, 0x4d2c6dfcu, 0x53380d13u, 0x650a7354u, 0x766a0abbu, 0x81c2c92eu, 0x92722c85u,
    0xa2bfe8a1u, 0xa81a664bu, 0xc24b8b70u, 0xc76c51a3u, 0xd192e819u, 0xd6990624u, 0xf40e3585u, 0x106aa070u,
    0x19a4c116u, 0x1e376c08u, 0x2748774cu, 0x34b0bcb5u, 0x391c0cb3u, 0x4ed8aa4au, 0x5b9cca4fu, 0x682e6ff3u,
    0x748f82eeu, 0x78a5636fu, 0x84c87814u, 0x8cc70208u, 0x90befffau, 0xa4506cebu, 0xbef9a3f7u, 0xc67178f2u};

#define ROR(x, n) (((x) >> (n)) | ((x) << (32 - (n))))

static void sha_block(tp_sha256 *s, const uint8_t *b)
{
    uint32_t w[16], v[8], t1, t2;
    int i;
    for (i = 0; i < 8; i++)
        v[i] = s->h[i];
    for (i = 0; i < 64; i++) {
        if (i < 16) {
            w[i] = (uint32_t)b[4 * i] << 24 | (uint32_t)b[4 * i + 1] << 16 | (uint32_t)b[4 * i + 2] << 8 | b[4 * i + 3];
        } else {
            uint32_t a = w[(i + 1) & 15], c = w[(i + 14) & 15];
            w[i & 15] += (ROR(a, 7) ^ ROR(a, 18) ^ (a >> 3)) + w[(i + 9) & 15] + (ROR(c, 17) ^ ROR(c, 19) ^ (c >> 10));
        }
        t1 = v[7] + (ROR(v[4], 6) ^ ROR(v[4], 11) ^ ROR(v[4], 25)) + ((v[4] & v[5]) ^ (~v[4] & v[6])) + sha_k[i] + w[i & 15];
        t2 = (ROR(v[0], 2) ^ ROR(v[0], 13) ^ ROR(v[0], 22)) + ((v[0] & v[1]) ^ (v[0] & v[2]) ^ (v[1] & v[2]));
        memmove(&v[1], &v[0], 7 * sizeof v[0]);
        v[4] += t1;
        v[0] = t1 + t2;
    }
    for (i = 0; i < 8; i++)
        s->h[i] += v[i];
}

static void sha_init(tp_sha256 *s)
{
    static const uint32_t h0[8] = {0x6a09e667u, 0xbb67ae85u, 0x3c6ef372u, 0xa54ff53au,
                                   0x510e527fu, 0x9b05688cu, 0x1f83d9abu, 0x5be0cd19u};
    memcpy(s->h, h0, sizeof h0);
    s->len = 0;
}

static void sha_update(tp_sha256 *s, const uint8_t *p, size_t n)
{
    while (n--) {
        s->buf[s->len++ & 63] = *p++;
        if ((s->len & 63) == 0)
            sha_block(s, s->buf);
    }
}

static void sha_final(tp_sha256 *s, uint8_t out[32])
{
    uint64_t bits = s->len * 8;
    uint8_t pad = 0x80;
    int i;
    sha_update(s, &pad, 1);
    pad = 0;
    while ((s->len & 63) != 56)
        sha_update(s, &pad, 1);
    for (i = 7; i >= 0; i--) {
        uint8_t b = (uint8_t)(bits >> (8 * i));
        sha_update(s, &b, 1);
    }
    for (i = 0; i < 32; i++)
        out[i] = (uint8_t)(s->h[i / 4] >> (24 - 8 * (i % 4)));
}

/* ---- Transmit: build a frame in tx, then COBS-encode through stage. ---- */

static void stage_flush(tp_agent *a)
{
    if (a->stage_len) {
        tp_port_write(a->stage, a->stage_len);
        a->stage_len = 0;
    }
}

static void stage_put(tp_agent *a, uint8_t b)
{
    a->stage[a->stage_len++] = b;
    if (a->stage_len == TP_TX_STAGE)
        stage_flush(a);
}

static void put_u8(tp_agent *a, uint8_t v)
{
    if (a->tx_len < TX_CAP)
        a->tx[a->tx_len++] = v;
    else
        a->tx_over = 1;
}

static void put_le(tp_agent *a, uint64_t v, int n)
{
    while (n--) {
        put_u8(a, (uint8_t)v);
        v >>= 8;
    }
}

static void put_uvarint(tp_agent *a, uint64_t v)
{
    while (v >= 0x80) {
        put_u8(a, (uint8_t)(v | 0x80));
        v >>= 7;
    }
    put_u8(a, (uint8_t)v);
}

static void put_bytes(tp_agent *a, const void *p, size_t n)
{
    const uint8_t *b = (const uint8_t *)p;
    while (n--)
        put_u8(a, *b++);
}

/* str_fit returns how many of the n bytes of s fit in most bytes (and in
 * a string's 255), cut where no UTF-8 sequence is split. */
static size_t str_fit(const char *s, size_t n, size_t most)
{
    if (most > 255)
        most = 255;
    if (n <= most)
        return n;
    while (most > 0 && ((uint8_t)s[most] & 0xC0) == 0x80)
        most--; /* s[most], the first byte cut off, continues a sequence */
    return most;
}

/* put_str writes a u8-length string of the first n bytes of s; the caller
 * has cut n with str_fit. */
static void put_str(tp_agent *a, const char *s, size_t n)
{
    put_u8(a, (uint8_t)n);
    put_bytes(a, s, n);
}

static size_t cstr_len(const char *s) { return s ? strlen(s) : 0; }

static void frame_begin(tp_agent *a, uint8_t type, uint16_t seq)
{
    a->tx_len = 0;
    a->tx_over = 0;
    put_u8(a, type);
    put_le(a, seq, 2);
}

static void send_log(tp_agent *a, uint8_t level, uint64_t t, const char *text, size_t n);

/* frame_end appends the CRC and writes 0x00, the COBS encoding, 0x00. A
 * reply longer than the payload limit would reach the host cut short or
 * be refused by it, so it is not sent: a LOG says so instead. Every reply
 * is built to fit, so this only guards against a mistake. */
static void frame_end(tp_agent *a)
{
    size_t i = 0, j, n;
    uint8_t code;
    if (a->tx_over || a->tx_len > 3 + (size_t)a->max_payload) {
        static const char msg[] = "reply too long: dropped";
        uint8_t type = a->tx[0];
        a->tx_over = 0;
        if (type != T_LOG) /* a LOG cannot overflow; never recurse */
            send_log(a, TP_LOG_ERROR, tp_port_time_us(), msg, sizeof msg - 1);
        return;
    }
    put_le(a, crc32(a->tx, a->tx_len), 4);
    n = a->tx_len;
    stage_put(a, 0);
    for (;;) {
        for (j = i; j < n && a->tx[j] != 0 && j - i < 254; j++)
            ;
        code = (uint8_t)(j - i + 1);
        stage_put(a, code);
        for (; i < j; i++)
            stage_put(a, a->tx[i]);
        if (j == n && code != 0xFF)
            break;
        i = code == 0xFF ? j : j + 1;
    }
    stage_put(a, 0);
    stage_flush(a);
}

static void send_empty(tp_agent *a, uint8_t type, uint16_t seq)
{
    frame_begin(a, type, seq);
    frame_end(a);
}

static void send_error(tp_agent *a, uint16_t seq, uint8_t code, uint8_t req, const char *text)
{
    frame_begin(a, T_ERROR, seq);
    put_u8(a, code);
    put_u8(a, req);
    put_str(a, text, str_fit(text, strlen(text), (size_t)a->max_payload - ERROR_FIXED_LEN));
    frame_end(a);
}

/* send_info sends INFO cut to the payload limit: the strings share what
 * the fixed fields leave (38 bytes at 64). The platform, a catalogue key
 * the host looks up, is kept whole first, then the firmware; the chip, a
 * description, takes the rest. Each keeps a byte for those after it, as
 * none may be empty. */
static void send_info(tp_agent *a, uint16_t seq)
{
    const tp_agent_config *c = a->cfg;
    size_t room = (size_t)a->max_payload - INFO_FIXED_LEN;
    size_t fw = cstr_len(c->firmware), pl = cstr_len(c->platform), ch = cstr_len(c->chip);
    pl = str_fit(c->platform, pl, room - (fw > 0) - (ch > 0));
    room -= pl;
    fw = str_fit(c->firmware, fw, room - (ch > 0));
    room -= fw;
    ch = str_fit(c->chip, ch, room);
    frame_begin(a, T_INFO, seq);
    put_u8(a, TP_PROTOCOL_VERSION);
    put_str(a, c->firmware, fw);
    put_str(a, c->platform, pl);
    put_str(a, c->chip, ch);
    put_le(a, c->cpu_mhz, 2);
    put_le(a, c->sram, 4);
    put_le(a, c->psram, 4);
    put_le(a, c->flash, 4);
    put_le(a, TP_MAX_PAYLOAD, 2);
    put_le(a, a->boot_id, 4);
    put_le(a, c->capabilities, 2);
    frame_end(a);
}

static void send_model_ack(tp_agent *a, uint16_t seq)
{
    frame_begin(a, T_MODEL_ACK, seq);
    put_le(a, a->up_off, 4);
    put_le(a, a->up_chunk, 2);
    put_u8(a, a->up_window);
    frame_end(a);
}

static void send_model_done(tp_agent *a, uint16_t seq, const uint8_t sha[32], const tp_model_info *m)
{
    frame_begin(a, T_MODEL_DONE, seq);
    put_bytes(a, sha, 32);
    put_u8(a, m->region);
    put_le(a, m->bytes, 4);
    put_le(a, m->parameters, 4);
    frame_end(a);
}

static void send_metrics(tp_agent *a, uint16_t seq, uint64_t uptime, const tp_metrics *m)
{
    frame_begin(a, T_METRICS, seq);
    put_le(a, uptime, 8);
    put_le(a, m->free_heap, 4);
    put_le(a, m->min_free_heap, 4);
    put_le(a, m->largest_free_block, 4);
    put_le(a, m->psram_free, 4);
    put_le(a, m->psram_min_free, 4);
    put_le(a, m->cpu_load_permille, 2);
    put_u8(a, m->has_power ? 1 : 0);
    put_le(a, m->power_uw, 4);
    put_le(a, m->voltage_mv, 2);
    put_le(a, m->current_ua, 4);
    frame_end(a);
}

static void send_log(tp_agent *a, uint8_t level, uint64_t t, const char *text, size_t n)
{
    frame_begin(a, T_LOG, 0);
    put_u8(a, level);
    put_le(a, t, 8);
    put_str(a, text, str_fit(text, n, (size_t)a->max_payload - LOG_FIXED_LEN));
    frame_end(a);
}

/* send_tokens sends the pending batch (PROTOCOL.md §3.3). */
static void send_tokens(tp_agent *a)
{
    uint16_t i;
    if (a->batch_n == 0)
        return;
    frame_begin(a, T_TOKENS, a->gen_seq);
    put_le(a, a->batch_index, 2);
    put_uvarint(a, a->batch_t[0]);
    for (i = 0; i < a->batch_n; i++) {
        put_uvarint(a, a->batch_id[i]);
        put_uvarint(a, i ? a->batch_t[i] - a->batch_t[i - 1] : 0);
    }
    frame_end(a);
    a->batch_index = (uint16_t)(a->batch_index + a->batch_n);
    a->batch_n = 0;
}

static uint32_t clamp32(uint64_t v) { return v > 0xFFFFFFFFu ? 0xFFFFFFFFu : (uint32_t)v; }

static void send_gen_done(tp_agent *a, uint8_t stop)
{
    uint32_t ttft = a->gen_count ? clamp32(a->gen_first - a->gen_start) : a->gen_prefill;
    frame_begin(a, T_GEN_DONE, a->gen_seq);
    put_le(a, a->gen_count, 2);
    put_le(a, a->gen.prompt_tokens, 2);
    put_le(a, a->gen_start, 8);
    put_le(a, a->gen_prefill, 4);
    put_le(a, ttft, 4);
    put_le(a, a->gen_count ? clamp32(a->gen_last - a->gen_first) : 0, 4);
    put_le(a, a->gen.peak_heap, 4);
    put_le(a, a->gen.peak_psram, 4);
    put_u8(a, stop);
    frame_end(a);
}

/* ---- Payload reader: the first short read sets err, later reads give 0. ---- */

typedef struct rd {
    const uint8_t *p;
    size_t n;
    int err;
} rd;

static const uint8_t *take(rd *r, size_t n)
{
    const uint8_t *p = r->p;
    if (r->err || r->n < n) {
        r->err = 1;
        return 0;
    }
    r->p += n;
    r->n -= n;
    return p;
}

static uint64_t get_le(rd *r, int n)
{
    const uint8_t *p = take(r, (size_t)n);
    uint64_t v = 0;
    if (!p)
        return 0;
    while (n--)
        v = v << 8 | p[n];
    return v;
}

/* ---- Requests. ---- */

/* use_preload makes the boot model, if any, the loaded one: the hooks
 * hold it as they would an upload, and its hash answers a repeated
 * MODEL_END the same way. */
static void use_preload(tp_agent *a)
{
    const tp_agent_model *m = a->preload;
    a->model_loaded = m != 0;
    if (m) {
        a->loaded = m->info;
        memcpy(a->up_sha, m->sha256, 32);
    }
}

static void reset_state(tp_agent *a)
{
    a->boot_id = tp_port_random();
    a->max_payload = TP_MAX_PAYLOAD < 1024 ? TP_MAX_PAYLOAD : 1024;
    a->rx_len = 0;
    a->rx_left = 0;
    a->rx_started = 0;
    a->rx_bad = 0;
    a->up_active = 0;
    a->model_loaded = 0;
    a->gen_active = 0;
    a->batch_n = 0;
    use_preload(a);
}

static void on_hello(tp_agent *a, uint16_t seq, rd *r)
{
    uint16_t m;
    get_le(r, 1); /* the host's version: it compares, we answer */
    m = (uint16_t)get_le(r, 2);
    if (r->err) {
        send_error(a, seq, TP_ERR_BAD_REQUEST, T_HELLO, "short HELLO");
        return;
    }
    a->max_payload = m < 64 ? 64 : m > TP_MAX_PAYLOAD ? TP_MAX_PAYLOAD : m;
    send_info(a, seq);
}

static void on_model_begin(tp_agent *a, uint16_t seq, rd *r)
{
    uint32_t size = (uint32_t)get_le(r, 4);
    const uint8_t *sha = take(r, 32);
    uint16_t chunk = (uint16_t)get_le(r, 2);
    uint8_t window = (uint8_t)get_le(r, 1);
    uint8_t name_len = (uint8_t)get_le(r, 1);
    const uint8_t *name = take(r, name_len);
    uint16_t most = (uint16_t)(a->max_payload - 4);
    if (r->err) {
        send_error(a, seq, TP_ERR_BAD_REQUEST, T_MODEL_BEGIN, "short MODEL_BEGIN");
        return;
    }
    if (a->gen_active) {
        send_error(a, seq, TP_ERR_BUSY, T_MODEL_BEGIN, "generating");
        return;
    }
    if (!a->up_active || size != a->up_size || memcmp(sha, a->up_sha, 32) != 0) {
        int err = tp_port_model_begin(size, (const char *)name, name_len);
        if (err) {
            send_error(a, seq, (uint8_t)err, T_MODEL_BEGIN, "model refused");
            return;
        }
        a->up_active = 1;
        a->model_loaded = 0;
        a->up_size = size;
        a->up_off = 0;
        memcpy(a->up_sha, sha, 32);
        sha_init(&a->sha);
    }
    a->up_chunk = chunk == 0 || chunk > most ? most : chunk;
    a->up_window = window == 0 ? 1 : window > TP_MODEL_WINDOW ? TP_MODEL_WINDOW : window;
    send_model_ack(a, seq);
}

static void on_model_chunk(tp_agent *a, uint16_t seq, rd *r)
{
    uint32_t off = (uint32_t)get_le(r, 4);
    int err;
    if (r->err || !a->up_active) {
        send_error(a, seq, TP_ERR_BAD_REQUEST, T_MODEL_CHUNK, r->err ? "short MODEL_CHUNK" : "no upload");
        return;
    }
    if (off != a->up_off) { /* lost or repeated chunk: go back */
        send_model_ack(a, seq);
        return;
    }
    if (r->n > a->up_size - a->up_off) {
        send_error(a, seq, TP_ERR_BAD_REQUEST, T_MODEL_CHUNK, "chunk past the model's end");
        return;
    }
    err = tp_port_model_chunk(off, r->p, r->n);
    if (err) {
        a->up_active = 0;
        send_error(a, seq, (uint8_t)err, T_MODEL_CHUNK, "chunk refused");
        return;
    }
    sha_update(&a->sha, r->p, r->n);
    a->up_off += (uint32_t)r->n;
    send_model_ack(a, seq);
}

static void on_model_end(tp_agent *a, uint16_t seq)
{
    uint8_t sum[32];
    tp_model_info info;
    int err;
    if (!a->up_active && a->model_loaded) {
        /* The host retried: its MODEL_DONE was lost. up_sha still holds
         * the loaded model's verified hash. */
        send_model_done(a, seq, a->up_sha, &a->loaded);
        return;
    }
    if (!a->up_active || a->up_off != a->up_size) {
        send_error(a, seq, TP_ERR_BAD_REQUEST, T_MODEL_END, a->up_active ? "upload incomplete" : "no upload");
        return;
    }
    a->up_active = 0;
    sha_final(&a->sha, sum);
    if (memcmp(sum, a->up_sha, 32) != 0) {
        send_error(a, seq, TP_ERR_BAD_CHECKSUM, T_MODEL_END, "SHA-256 mismatch");
        return;
    }
    memset(&info, 0, sizeof info);
    err = tp_port_model_end(&info);
    if (err) {
        send_error(a, seq, (uint8_t)err, T_MODEL_END, "model not loaded");
        return;
    }
    a->model_loaded = 1;
    a->loaded = info;
    send_model_done(a, seq, sum, &info);
}

static void finish(tp_agent *a, uint8_t stop)
{
    send_tokens(a);
    send_gen_done(a, stop);
    a->gen_active = 0;
}

static void on_generate(tp_agent *a, uint16_t seq, rd *r)
{
    tp_gen *g = &a->gen;
    int err;
    uint8_t n;
    if (a->gen_active) { /* before parsing: a->gen belongs to the running one */
        send_error(a, seq, TP_ERR_BUSY, T_GENERATE, "generating");
        return;
    }
    memset(g, 0, sizeof *g);
    g->max_tokens = (uint16_t)get_le(r, 2);
    g->seed = (uint32_t)get_le(r, 4);
    g->temperature_permille = (uint16_t)get_le(r, 2);
    g->top_p_permille = (uint16_t)get_le(r, 2);
    g->top_k = (uint16_t)get_le(r, 2);
    n = (uint8_t)get_le(r, 1);
    g->prompt = (const char *)take(r, n);
    g->prompt_len = n;
    if (r->err) {
        send_error(a, seq, TP_ERR_BAD_REQUEST, T_GENERATE, "short GENERATE");
        return;
    }
    if (!a->model_loaded) {
        send_error(a, seq, TP_ERR_NO_MODEL, T_GENERATE, "no model loaded");
        return;
    }
    a->gen_seq = seq;
    a->gen_count = a->batch_n = a->batch_index = 0;
    a->gen_start = tp_port_time_us();
    err = tp_port_gen_start(g);
    g->prompt = 0; /* it points into the receive buffer */
    if (err) {
        send_error(a, seq, (uint8_t)err, T_GENERATE, "generation refused");
        return;
    }
    a->gen_prefill = clamp32(tp_port_time_us() - a->gen_start);
    a->gen_active = 1;
    if (g->max_tokens == 0)
        finish(a, STOP_LENGTH);
}

static void on_metrics(tp_agent *a, uint16_t seq)
{
    tp_metrics m;
    memset(&m, 0, sizeof m);
    tp_port_metrics(&m);
    send_metrics(a, seq, tp_port_time_us(), &m);
}

static void dispatch(tp_agent *a, uint8_t type, uint16_t seq, rd *r)
{
    switch (type) {
    case T_HELLO:
        on_hello(a, seq, r);
        break;
    case T_PING:
        if (r->n > a->max_payload) { /* it fits our limit, not the host's */
            send_error(a, seq, TP_ERR_BAD_REQUEST, T_PING, "PING over the host's payload limit");
            break;
        }
        frame_begin(a, T_PONG, seq);
        put_bytes(a, r->p, r->n);
        frame_end(a);
        break;
    case T_RESET:
        send_empty(a, T_RESET_ACK, seq);
        tp_port_reset();
        reset_state(a); /* a host build returns here */
        send_info(a, 0);
        break;
    case T_MODEL_BEGIN:
        on_model_begin(a, seq, r);
        break;
    case T_MODEL_CHUNK:
        on_model_chunk(a, seq, r);
        break;
    case T_MODEL_END:
        on_model_end(a, seq);
        break;
    case T_GENERATE:
        on_generate(a, seq, r);
        break;
    case T_GET_METRICS:
        on_metrics(a, seq);
        break;
    case T_CANCEL:
        if (a->gen_active)
            finish(a, STOP_CANCELLED);
        else /* PROTOCOL.md 3.5: with no generation running, BAD_REQUEST */
            send_error(a, seq, TP_ERR_BAD_REQUEST, T_CANCEL, "no generation running");
        break;
    default:
        send_error(a, seq, TP_ERR_UNKNOWN_COMMAND, type, "unknown command");
    }
}

/* ---- Receive: incremental COBS decoding into rx. ---- */

static void end_block(tp_agent *a)
{
    uint16_t n = a->rx_len;
    int bad = a->rx_bad || a->rx_left != 0 || n < TP_FRAME_OVERHEAD;
    if (!a->rx_started && !a->rx_bad)
        return; /* two delimiters in a row */
    a->rx_len = 0;
    a->rx_left = 0;
    a->rx_started = 0;
    a->rx_bad = 0;
    if (!bad) {
        uint32_t want = (uint32_t)a->rx[n - 4] | (uint32_t)a->rx[n - 3] << 8 | (uint32_t)a->rx[n - 2] << 16 | (uint32_t)a->rx[n - 1] << 24;
        bad = crc32(a->rx, (size_t)n - 4) != want;
    }
    if (bad) {
        send_error(a, 0, TP_ERR_BAD_FRAME, 0, "bad frame");
    } else {
        rd r;
        r.p = a->rx + 3;
        r.n = (size_t)n - TP_FRAME_OVERHEAD;
        r.err = 0;
#ifdef TP_TEST_FRAME_HOOK
        TP_TEST_FRAME_HOOK(a->rx[0], (uint16_t)(a->rx[1] | a->rx[2] << 8), r.p, r.n);
        if (0)
#endif
            dispatch(a, a->rx[0], (uint16_t)(a->rx[1] | a->rx[2] << 8), &r);
    }
}

static void rx_put(tp_agent *a, uint8_t b)
{
    if (a->rx_len < RX_CAP)
        a->rx[a->rx_len++] = b;
    else
        a->rx_bad = 1; /* longer than any frame: drop to the next 0x00 */
}

static void rx_byte(tp_agent *a, uint8_t b)
{
    if (b == 0) {
        end_block(a);
        return;
    }
    if (a->rx_bad)
        return;
    if (a->rx_left == 0) { /* a code byte */
        if (a->rx_started && a->rx_code < 0xFF)
            rx_put(a, 0);
        a->rx_started = 1;
        a->rx_code = b;
        a->rx_left = (uint8_t)(b - 1);
    } else {
        rx_put(a, b);
        a->rx_left--;
    }
}

/* ---- Generation. ---- */

static uint8_t uvarint_len(uint64_t v)
{
    uint8_t n = 1;
    while (v >= 0x80) {
        v >>= 7;
        n++;
    }
    return n;
}

static void add_token(tp_agent *a, uint32_t id, uint64_t now)
{
    uint16_t need;
    if (a->batch_n > 0) {
        need = (uint16_t)(uvarint_len(id) + uvarint_len(now - a->batch_t[a->batch_n - 1]));
        if (a->batch_bytes + need > a->max_payload)
            send_tokens(a);
    }
    if (a->batch_n == 0) {
        a->batch_t0 = now;
        a->batch_bytes = (uint16_t)(2 + uvarint_len(now) + uvarint_len(id) + 1);
    } else {
        a->batch_bytes = (uint16_t)(a->batch_bytes + uvarint_len(id) + uvarint_len(now - a->batch_t[a->batch_n - 1]));
    }
    a->batch_id[a->batch_n] = id;
    a->batch_t[a->batch_n] = now;
    a->batch_n++;
    if (a->gen_count == 0)
        a->gen_first = now;
    a->gen_last = now;
    a->gen_count++;
    if (a->batch_n == TP_BATCH_TOKENS || now - a->batch_t0 >= TP_BATCH_US)
        send_tokens(a);
}

static void gen_step(tp_agent *a)
{
    uint32_t id = 0;
    int r = tp_port_gen_next(&a->gen, &id);
    uint64_t now = tp_port_time_us();
    if (r < 0) {
        send_tokens(a);
        send_error(a, a->gen_seq, (uint8_t)-r, T_GENERATE, "generation failed");
        a->gen_active = 0;
    } else if (r != 1) {
        finish(a, r ? STOP_CONTEXT : STOP_EOS);
    } else {
        add_token(a, id, now);
        if (a->gen_count >= a->gen.max_tokens)
            finish(a, STOP_LENGTH);
    }
}

/* ---- API. ---- */

void tp_agent_init(tp_agent *a, const tp_agent_config *cfg)
{
    memset(a, 0, sizeof *a);
    a->cfg = cfg;
    reset_state(a);
    send_info(a, 0);
}

void tp_agent_set_model(tp_agent *a, const tp_agent_model *m)
{
    a->preload = m;
    if (!a->gen_active && !a->up_active)
        use_preload(a);
}

void tp_agent_rx(tp_agent *a, const uint8_t *p, size_t n)
{
    uint16_t head = a->rx_head;
    while (n--) {
        if ((uint16_t)(head - a->rx_tail) >= TP_RX_RING) {
            a->rx_overrun = 1;
            break;
        }
        a->ring[head & (TP_RX_RING - 1)] = *p++;
        head++;
    }
    a->rx_head = head;
}

int tp_agent_poll(tp_agent *a)
{
    uint16_t head = a->rx_head, tail = a->rx_tail;
    while (tail != head) {
        rx_byte(a, a->ring[tail & (TP_RX_RING - 1)]);
        tail++;
    }
    a->rx_tail = tail;
    if (a->rx_overrun) {
        a->rx_overrun = 0;
        a->rx_bad = 1;
    }
    if (a->gen_active) {
        if (a->batch_n && tp_port_time_us() - a->batch_t0 >= TP_BATCH_US)
            send_tokens(a);
        gen_step(a);
    }
    return a->gen_active;
}

void tp_agent_log(tp_agent *a, uint8_t level, const char *text, size_t len)
{
    send_log(a, level, tp_port_time_us(), text, len);
}
