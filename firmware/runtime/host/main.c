/*
 * host/main.c - drives the runtime on a host, for the Go tests.
 *
 *   rt-host run FILE ARENA CTX STEPS TEMP_PERMILLE TOP_P_PERMILLE TOP_K SEED PROMPT_HEX [logits]
 *   rt-host check ARENA FILE...
 *   rt-host math < BITS
 *
 * run loads FILE (ARENA bytes of arena, CTX 0 for the model's own) and
 * generates up to STEPS tokens after the prompt, given as hex bytes ("-"
 * for none). It prints "load CODE ...", then per token "tok ID" (with
 * "logits" first a line of the logits as float32 bit patterns in hex),
 * and "end N". check prints each file's load code, one a line. math reads
 * float32 bit patterns in hex, one a line, and prints the bits of exp, log,
 * sqrt, sin and cos of each. The model
 * file is read into a buffer of exactly its size, so a sanitizer build
 * catches any read past its end.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tp_rt.h"

static uint8_t *read_file(const char *path, uint32_t *len)
{
    FILE *f = fopen(path, "rb");
    uint8_t *p;
    long n;
    if (!f)
        return NULL;
    if (fseek(f, 0, SEEK_END) != 0 || (n = ftell(f)) < 0 || n > 0x7fffffffL || fseek(f, 0, SEEK_SET) != 0) {
        fclose(f);
        return NULL;
    }
    p = (uint8_t *)malloc(n ? (size_t)n : 1u);
    if (p && fread(p, 1, (size_t)n, f) != (size_t)n) {
        free(p);
        p = NULL;
    }
    fclose(f);
    *len = (uint32_t)n;
    return p;
}

static int hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

static int run(char **argv, int logits)
{
    static uint8_t prompt[256];
    uint32_t len = 0, n = 0, steps, i, tok;
    uint8_t *data = read_file(argv[0], &len), *arena_buf;
    uint32_t arena_cap = (uint32_t)strtoul(argv[1], NULL, 10);
    const char *hex = argv[8];
    tp_rt_arena arena;
    tp_rt_model m;
    tp_rt_gen g;
    int err;
    if (!data) {
        fprintf(stderr, "rt-host: cannot read %s\n", argv[0]);
        return 1;
    }
    if (strcmp(hex, "-") != 0) {
        for (; hex[0] && hex[1] && n < sizeof prompt; hex += 2) {
            int a = hexval(hex[0]), b = hexval(hex[1]);
            if (a < 0 || b < 0)
                return 1;
            prompt[n++] = (uint8_t)(a << 4 | b);
        }
    }
    arena_buf = (uint8_t *)malloc(arena_cap ? arena_cap : 1u);
    tp_rt_arena_init(&arena, arena_buf, arena_cap);
    err = tp_rt_load(&m, data, len, &arena, (uint32_t)strtoul(argv[2], NULL, 10));
    printf("load %d", err);
    if (err) {
        printf("\n");
        return 0;
    }
    printf(" ctx %u kv %u params %u used %u\n", (unsigned)m.ctx, (unsigned)m.kv_bytes, (unsigned)m.params,
           (unsigned)arena.used);
    steps = (uint32_t)strtoul(argv[3], NULL, 10);
    err = tp_rt_gen_start(&g, &m, &arena, prompt, n, (float)strtoul(argv[4], NULL, 10) / 1000.0f,
                          (float)strtoul(argv[5], NULL, 10) / 1000.0f, (uint32_t)strtoul(argv[6], NULL, 10),
                          (uint32_t)strtoul(argv[7], NULL, 10));
    printf("start %d prompt %u peak %u\n", err, (unsigned)g.prompt_tokens, (unsigned)arena.peak);
    if (err)
        return 0;
    for (i = 0; i < steps && tp_rt_gen_step(&g, &m); i++) {
        if (logits) {
            uint32_t v;
            printf("logits");
            for (v = 0; v < m.c.vocab; v++) {
                uint32_t b;
                memcpy(&b, &m.logits[v], 4);
                printf(" %08x", (unsigned)b);
            }
            printf("\n");
        }
        tok = tp_rt_gen_sample(&g, &m);
        printf("tok %u\n", (unsigned)tok);
    }
    printf("end %u peak %u\n", (unsigned)i, (unsigned)arena.peak);
    free(arena_buf);
    free(data);
    return 0;
}

static int check(int argc, char **argv)
{
    uint32_t arena_cap = (uint32_t)strtoul(argv[0], NULL, 10);
    uint8_t *arena_buf = (uint8_t *)malloc(arena_cap ? arena_cap : 1u);
    int i;
    for (i = 1; i < argc; i++) {
        uint32_t len = 0;
        uint8_t *data = read_file(argv[i], &len);
        tp_rt_arena arena;
        tp_rt_model m;
        int err;
        if (!data) {
            fprintf(stderr, "rt-host: cannot read %s\n", argv[i]);
            return 1;
        }
        tp_rt_arena_init(&arena, arena_buf, arena_cap);
        err = tp_rt_load(&m, data, len, &arena, 0);
        if (err == TP_RT_OK) /* a loaded model must also run */
            err = tp_rt_forward(&m, 0, 0);
        printf("%d\n", err);
        free(data);
    }
    free(arena_buf);
    return 0;
}

static unsigned bits_of(float f)
{
    uint32_t u;
    memcpy(&u, &f, 4);
    return (unsigned)u;
}

static int math(void)
{
    unsigned long u;
    while (scanf("%lx", &u) == 1) {
        uint32_t b = (uint32_t)u;
        float x, s, c;
        memcpy(&x, &b, 4);
        tp_rt_sincosf(x, &s, &c);
        printf("%08x %08x %08x %08x %08x\n", bits_of(tp_rt_expf(x)), bits_of(tp_rt_logf(x)), bits_of(tp_rt_sqrtf(x)),
               bits_of(s), bits_of(c));
    }
    return 0;
}

int main(int argc, char **argv)
{
    if (argc >= 11 && strcmp(argv[1], "run") == 0)
        return run(argv + 2, argc >= 12 && strcmp(argv[11], "logits") == 0);
    if (argc == 2 && strcmp(argv[1], "math") == 0)
        return math();
    if (argc >= 3 && strcmp(argv[1], "check") == 0)
        return check(argc - 2, argv + 2);
    fprintf(stderr, "usage: rt-host run FILE ARENA CTX STEPS TEMP_PERMILLE TOP_P_PERMILLE TOP_K SEED PROMPT_HEX [logits]\n"
                    "       rt-host check ARENA FILE...\n       rt-host math < BITS\n");
    return 2;
}
