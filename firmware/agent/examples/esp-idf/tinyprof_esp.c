/*
 * tinyprof_esp.c - the tinyprof port for ESP-IDF (v5.3 or later):
 * UART driver transport, esp_timer clock, hardware RNG boot id, heap_caps
 * metrics. Inference is tinyprof's runtime (firmware/runtime,
 * tp_runtime_port.h): uploads land in a PSRAM buffer, the arena (KV cache,
 * activations) is PSRAM too, both allocated once at boot, and a model
 * written into a flash partition beforehand is read in place through the
 * cache (esp_partition_mmap) without an upload.
 *
 * Two tasks, pinned to the same core so that the agent's single-producer,
 * single-consumer receive ring needs no barrier (tinyprof_agent.h):
 *  - rx: blocks in uart_read_bytes and feeds tp_agent_rx;
 *  - agent: runs tp_agent_poll, which also runs inference, one token per
 *    call; when idle it sleeps until rx notifies it.
 */
#include <stdint.h>
#include <string.h>

#include "sdkconfig.h"
#include "driver/uart.h"
#include "esp_flash.h"
#include "esp_heap_caps.h"
#include "esp_partition.h"
#include "esp_random.h"
#include "esp_system.h"
#include "esp_timer.h"
#include "freertos/FreeRTOS.h"
#include "freertos/task.h"

#include "tinyprof_agent.h"
#include "tinyprof_esp.h"
#include "tp_runtime_port.h"

#define PORT ((uart_port_t)CONFIG_TINYPROF_UART_PORT)
#define RX_BUF 1024 /* driver ring; must exceed the hardware FIFO (UART_HW_FIFO_LEN) */
#define TX_BUF 2048 /* 0 would make every write wait for the FIFO */

/* TP_MODEL_BYTES and TP_MODEL_SHA256 (64 hex digits) describe the model
 * written into the partition; CMakeLists.txt sets both from
 * TINYPROF_MODEL_FILE. Without them there is no preloaded model. */
#ifndef TP_MODEL_BYTES
#define TP_MODEL_BYTES 0u
#endif
#ifndef TP_MODEL_SHA256
#define TP_MODEL_SHA256 ""
#endif

static tp_agent agent;
static tp_agent_config config;
static TaskHandle_t agent_task;
static tp_rt_board rt;
static tp_agent_model flash_model;
static uint32_t upload_most; /* the most upload bytes model_buf has held */

static void log_err(const char *what, esp_err_t err)
{
    char text[64];
    size_t n = strlen(what);
    if (n > sizeof text - 16)
        n = sizeof text - 16;
    memcpy(text, what, n);
    text[n++] = ':';
    text[n++] = ' ';
    /* esp_err_to_name would pull in a table; the number is enough. */
    for (int shift = 28; shift >= 0; shift -= 4)
        text[n++] = "0123456789abcdef"[((uint32_t)err >> shift) & 15];
    tp_agent_log(&agent, TP_LOG_ERROR, text, n);
}

/* ---- transport, clock, identity: tinyprof_port.h ---- */

/* https://docs.espressif.com/projects/esp-idf/en/latest/esp32/api-reference/peripherals/uart.html
 * uart_write_bytes copies into the TX ring and returns; it blocks only when
 * the ring is full. */
void tp_port_write(const uint8_t *p, size_t n) { uart_write_bytes(PORT, p, n); }

/* https://docs.espressif.com/projects/esp-idf/en/latest/esp32/api-reference/system/esp_timer.html
 * esp_timer_get_time: microseconds since esp_timer initialised, early in
 * boot; int64_t, never negative. */
uint64_t tp_port_time_us(void) { return (uint64_t)esp_timer_get_time(); }

/* https://docs.espressif.com/projects/esp-idf/en/latest/esp32/api-reference/system/random.html
 * Without RF or bootloader_random the RNG is only pseudo-random, which is
 * enough for a boot id. */
uint32_t tp_port_random(void) { return esp_random(); }

/* https://docs.espressif.com/projects/esp-idf/en/latest/esp32/api-reference/system/mem_alloc.html
 * The internal heap is the IDF's. The arena and the upload buffer were
 * taken from PSRAM whole at boot, so the PSRAM heap counts them as used;
 * what the runtime leaves unused in them is added back, which makes
 * psram_free what a model could still use. */
void tp_port_metrics(tp_metrics *m)
{
    uint32_t used = tp_rt_arena_used(), peak = tp_rt_arena_peak(), held = tp_rt_model_bytes();
    if (used > rt.arena_cap)
        used = rt.arena_cap;
    if (peak < used)
        peak = used;
    if (peak > rt.arena_cap)
        peak = rt.arena_cap;
    if (held > rt.model_cap)
        held = rt.model_cap;
    if (held > upload_most)
        upload_most = held;
    memset(m, 0, sizeof *m);
    m->free_heap = (uint32_t)heap_caps_get_free_size(MALLOC_CAP_INTERNAL);
    m->min_free_heap = (uint32_t)heap_caps_get_minimum_free_size(MALLOC_CAP_INTERNAL);
    m->largest_free_block = (uint32_t)heap_caps_get_largest_free_block(MALLOC_CAP_INTERNAL);
    m->psram_free = (uint32_t)heap_caps_get_free_size(MALLOC_CAP_SPIRAM) + (rt.arena_cap - used) +
                    (rt.model_cap - held);
    m->psram_min_free = (uint32_t)heap_caps_get_minimum_free_size(MALLOC_CAP_SPIRAM) +
                        (rt.arena_cap - peak) + (rt.model_cap - upload_most);
}

/* https://docs.espressif.com/projects/esp-idf/en/latest/esp32/api-reference/system/misc_system_api.html
 * Wait for RESET_ACK to leave the FIFO first: esp_restart does not. */
void tp_port_reset(void)
{
    uart_wait_tx_done(PORT, pdMS_TO_TICKS(100));
    esp_restart();
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

/* board_memory takes the upload buffer and the arena from PSRAM and maps
 * the model partition. An allocation that fails leaves that buffer's size
 * 0: uploads are then refused (MODEL_TOO_LARGE) or models do not fit
 * (OUT_OF_MEMORY), which the host reports, rather than the board not
 * booting. */
static const char *board_memory(esp_err_t *err)
{
    const char *failed = NULL;
    const uint32_t model_bytes = TP_MODEL_BYTES; /* a variable: no "always false" warning when 0 */
    *err = ESP_OK;
    rt.model_cap = (uint32_t)CONFIG_TINYPROF_UPLOAD_KB * 1024u;
    rt.model_buf = rt.model_cap ? heap_caps_malloc(rt.model_cap, MALLOC_CAP_SPIRAM) : NULL;
    if (rt.model_buf == NULL) {
        if (rt.model_cap)
            failed = "heap_caps_malloc upload";
        rt.model_cap = 0;
    }
    rt.model_region = TP_REGION_PSRAM;
    rt.arena_cap = (uint32_t)CONFIG_TINYPROF_ARENA_KB * 1024u;
    rt.arena = heap_caps_malloc(rt.arena_cap, MALLOC_CAP_SPIRAM);
    if (rt.arena == NULL) {
        failed = "heap_caps_malloc arena";
        rt.arena_cap = 0;
    }
    rt.ctx_max = (uint16_t)CONFIG_TINYPROF_CTX_MAX;
    if (model_bytes > 0) {
        /* https://docs.espressif.com/projects/esp-idf/en/latest/esp32/api-reference/storage/partition.html
         * ESP_PARTITION_MMAP_DATA allows byte access; the weights are read
         * in place through the flash cache and never copied to RAM. The
         * mapping is kept for good. */
        const esp_partition_t *part = esp_partition_find_first(ESP_PARTITION_TYPE_DATA, ESP_PARTITION_SUBTYPE_ANY,
                                                               CONFIG_TINYPROF_MODEL_PARTITION);
        const void *map = NULL;
        esp_partition_mmap_handle_t handle;
        if (part == NULL || model_bytes > part->size) {
            failed = "model partition missing or too small";
            *err = ESP_ERR_NOT_FOUND;
        } else {
            /* ESP_ERR_NO_MEM: bigger than the MMU's data window */
            *err = esp_partition_mmap(part, 0, model_bytes, ESP_PARTITION_MMAP_DATA, &map, &handle);
            if (*err == ESP_OK) {
                rt.flash_model = map;
                rt.flash_model_len = model_bytes;
            } else {
                failed = "esp_partition_mmap";
            }
        }
    }
    tp_rt_port_init(&rt);
    return failed;
}

/* ---- tasks ---- */

static void rx_task(void *arg)
{
    uint8_t buf[128];
    (void)arg;
    for (;;) {
        /* Returns as soon as buf is full or 10 ms pass with what arrived. */
        int n = uart_read_bytes(PORT, buf, sizeof buf, pdMS_TO_TICKS(10));
        if (n > 0) {
            tp_agent_rx(&agent, buf, (size_t)n);
            xTaskNotifyGive(agent_task);
        }
    }
}

static void agent_main(void *arg)
{
    (void)arg;
    for (;;) {
        /* A generation never blocks here: keep the task watchdog off this
         * core's idle task (README). */
        if (!tp_agent_poll(&agent))
            ulTaskNotifyTake(pdTRUE, portMAX_DELAY);
    }
}

esp_err_t tinyprof_esp_start(void)
{
    const uart_config_t uc = {
        .baud_rate = CONFIG_TINYPROF_UART_BAUD,
        .data_bits = UART_DATA_8_BITS,
        .parity = UART_PARITY_DISABLE,
        .stop_bits = UART_STOP_BITS_1,
        .flow_ctrl = UART_HW_FLOWCTRL_DISABLE,
        .source_clk = UART_SCLK_DEFAULT,
    };
    uint32_t flash = 0;
    const char *failed;
    esp_err_t mem_err;
    esp_err_t err = uart_driver_install(PORT, RX_BUF, TX_BUF, 0, NULL, 0);
    if (err == ESP_OK)
        err = uart_param_config(PORT, &uc);
    if (err != ESP_OK)
        return err;
    esp_flash_get_size(NULL, &flash);
    config.firmware = "tinyprof-esp/0.1.0";
    config.platform = CONFIG_IDF_TARGET;
    config.chip = CONFIG_IDF_TARGET;
    config.cpu_mhz = CONFIG_ESP_DEFAULT_CPU_FREQ_MHZ;
    config.sram = (uint32_t)heap_caps_get_total_size(MALLOC_CAP_INTERNAL);
    config.psram = (uint32_t)heap_caps_get_total_size(MALLOC_CAP_SPIRAM);
    config.flash = flash;
    config.capabilities = TP_CAP_CANCEL | (config.psram ? TP_CAP_PSRAM : 0);
    /* Before the tasks exist: the runtime's memory, then tp_agent_init,
     * which clears the receive ring. */
    failed = board_memory(&mem_err);
    tp_agent_init(&agent, &config);
    if (failed != NULL)
        log_err(failed, mem_err);
    if (rt.flash_model != NULL) {
        if (!tp_rt_port_flash_info(&flash_model.info))
            log_err("flash model not loaded, runtime error", (esp_err_t)tp_rt_port_last_error());
        else if (!hex_sha256(TP_MODEL_SHA256, flash_model.sha256))
            log_err("TP_MODEL_SHA256 is not 64 hex digits", ESP_ERR_INVALID_ARG);
        else
            tp_agent_set_model(&agent, &flash_model);
    }
    /* The agent task first, so that agent_task is set when rx notifies. */
    if (xTaskCreatePinnedToCore(agent_main, "tinyprof", 8192, NULL, 5, &agent_task,
                                CONFIG_TINYPROF_TASK_CORE) != pdPASS)
        return ESP_ERR_NO_MEM;
    if (xTaskCreatePinnedToCore(rx_task, "tinyprof-rx", 3072, NULL, 6, NULL, CONFIG_TINYPROF_TASK_CORE) != pdPASS)
        return ESP_ERR_NO_MEM;
    return ESP_OK;
}
