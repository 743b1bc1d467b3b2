/*
 * host/port_main.c - drives tp_runtime_port.c's hooks as the agent would,
 * for the Go tests (without the agent or a serial line).
 *
 *   rt-port FILE MODEL_CAP ARENA CTX_MAX CHUNK FLASH MAX_TOKENS TEMP TOP_P TOP_K SEED PROMPT_HEX
 *
 * With FLASH 0 the file is uploaded in CHUNK-byte pieces through
 * tp_port_model_begin/chunk/end; with FLASH 1 it is handed to
 * tp_rt_port_init as a preloaded model. It prints one line per hook.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tinyprof_port.h"
#include "tp_runtime_port.h"

static unsigned long arg(char **argv, int i) { return strtoul(argv[i], NULL, 10); }

int main(int argc, char **argv)
{
    static char prompt[255];
    tp_rt_board b;
    tp_model_info info;
    tp_gen g;
    FILE *f;
    uint8_t *file;
    long n;
    uint32_t tok, i, chunk;
    int e, plen = 0;
    const char *hex;
    if (argc != 13) {
        fprintf(stderr, "usage: rt-port FILE MODEL_CAP ARENA CTX_MAX CHUNK FLASH MAX_TOKENS TEMP TOP_P TOP_K SEED PROMPT_HEX\n");
        return 2;
    }
    f = fopen(argv[1], "rb");
    if (!f || fseek(f, 0, SEEK_END) || (n = ftell(f)) < 0 || fseek(f, 0, SEEK_SET))
        return 1;
    file = (uint8_t *)malloc((size_t)n + 1u);
    if (!file || fread(file, 1, (size_t)n, f) != (size_t)n)
        return 1;
    fclose(f);
    memset(&b, 0, sizeof b);
    b.model_cap = (uint32_t)arg(argv, 2);
    b.model_buf = (uint8_t *)malloc(b.model_cap + 1u);
    b.model_region = TP_REGION_PSRAM;
    b.arena_cap = (uint32_t)arg(argv, 3);
    b.arena = (uint8_t *)malloc(b.arena_cap + 1u);
    b.ctx_max = (uint16_t)arg(argv, 4);
    chunk = (uint32_t)arg(argv, 5);
    if (arg(argv, 6)) {
        b.flash_model = file;
        b.flash_model_len = (uint32_t)n;
    }
    tp_rt_port_init(&b);
    printf("init loaded %d error %d\n", tp_rt_port_loaded(), tp_rt_port_last_error());
    if (!arg(argv, 6)) {
        e = tp_port_model_begin((uint32_t)n, "m", 1);
        printf("begin %d\n", e);
        if (e)
            goto done;
        for (i = 0; i < (uint32_t)n && !e; i += chunk)
            e = tp_port_model_chunk(i, file + i, (uint32_t)n - i < chunk ? (uint32_t)n - i : chunk);
        printf("chunks %d\n", e);
        memset(&info, 0, sizeof info);
        e = tp_port_model_end(&info);
        printf("end %d region %u bytes %u params %u\n", e, (unsigned)info.region, (unsigned)info.bytes,
               (unsigned)info.parameters);
        if (e)
            goto done;
    }
    for (hex = argv[12]; strcmp(argv[12], "-") != 0 && hex[0] && hex[1] && plen < 255; hex += 2) {
        char h[3] = {hex[0], hex[1], 0};
        prompt[plen++] = (char)strtoul(h, NULL, 16);
    }
    memset(&g, 0, sizeof g);
    g.max_tokens = (uint16_t)arg(argv, 7);
    g.temperature_permille = (uint16_t)arg(argv, 8);
    g.top_p_permille = (uint16_t)arg(argv, 9);
    g.top_k = (uint16_t)arg(argv, 10);
    g.seed = (uint32_t)arg(argv, 11);
    g.prompt = prompt;
    g.prompt_len = (uint8_t)plen;
    e = tp_port_gen_start(&g);
    printf("start %d prompt %u peak %u kv %u used %u\n", e, (unsigned)g.prompt_tokens, (unsigned)g.peak_heap,
           (unsigned)tp_rt_kv_bytes(), (unsigned)tp_rt_arena_used());
    if (e)
        goto done;
    /* The agent stops at max_tokens itself; so does this loop. */
    for (i = 0, e = 1; i < g.max_tokens && (e = tp_port_gen_next(&g, &tok)) == 1; i++)
        printf("tok %u\n", (unsigned)tok);
    printf("stop %d after %u peak %u\n", i < g.max_tokens ? e : 1, (unsigned)i, (unsigned)tp_rt_arena_peak());
done:
    free(file);
    free(b.model_buf);
    free(b.arena);
    return 0;
}
