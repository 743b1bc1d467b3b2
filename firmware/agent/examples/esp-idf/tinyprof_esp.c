/*
 * tinyprof_esp.c - the tinyprof port for ESP-IDF (v5.3 or later):
 * UART driver transport, esp_timer clock, hardware RNG boot id, heap_caps
 * metrics, and a llama2.c model stored in a flash partition and read in
 * place through the cache (esp_partition_mmap).
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
#include "tp_llama2.h"

#define PORT ((uart_port_t)CONFIG_TINYPROF_UART_PORT)
#define RX_BUF 1024 /* driver ring; must exceed the hardware FIFO (UART_HW_FIFO_LEN) */
#define TX_BUF 2048 /* 0 would make every write wait for the FIFO */

static tp_agent agent;
static tp_agent_config config;
static TaskHandle_t agent_task;

static struct {
    const esp_partition_t *part;
    uint32_t size, erased;
    const void *map;
    esp_partition_mmap_handle_t handle;
} model;

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

/* https://docs.espressif.com/projects/esp-idf/en/latest/esp32/api-reference/system/mem_alloc.html */
void tp_port_metrics(tp_metrics *m)
{
    m->free_heap = (uint32_t)heap_caps_get_free_size(MALLOC_CAP_INTERNAL);
    m->min_free_heap = (uint32_t)heap_caps_get_minimum_free_size(MALLOC_CAP_INTERNAL);
    m->largest_free_block = (uint32_t)heap_caps_get_largest_free_block(MALLOC_CAP_INTERNAL);
    m->psram_free = (uint32_t)heap_caps_get_free_size(MALLOC_CAP_SPIRAM);
    m->psram_min_free = (uint32_t)heap_caps_get_minimum_free_size(MALLOC_CAP_SPIRAM);
}

/* https://docs.espressif.com/projects/esp-idf/en/latest/esp32/api-reference/system/misc_system_api.html
 * Wait for RESET_ACK to leave the FIFO first: esp_restart does not. */
void tp_port_reset(void)
{
    uart_wait_tx_done(PORT, pdMS_TO_TICKS(100));
    esp_restart();
}

/* ---- model storage: a data partition, erased a sector at a time ---- */

/* https://docs.espressif.com/projects/esp-idf/en/latest/esp32/api-reference/storage/partition.html */
static void unmap(void)
{
    tp_llama2_unload();
    if (model.map != NULL)
        esp_partition_munmap(model.handle);
    model.map = NULL;
}

int tp_port_model_begin(uint32_t size, const char *name, uint8_t name_len)
{
    (void)name;
    (void)name_len;
    unmap();
    if (model.part == NULL)
        model.part = esp_partition_find_first(ESP_PARTITION_TYPE_DATA, ESP_PARTITION_SUBTYPE_ANY,
                                              CONFIG_TINYPROF_MODEL_PARTITION);
    if (model.part == NULL || size > model.part->size)
        return TP_ERR_MODEL_TOO_LARGE;
    model.size = size;
    model.erased = 0;
    return TP_OK;
}

/* Erasing the whole partition up front would stall the first MODEL_ACK for
 * seconds; a 4 KiB sector per chunk costs tens of milliseconds. */
int tp_port_model_chunk(uint32_t offset, const uint8_t *p, size_t n)
{
    esp_err_t err;
    while (model.erased < offset + n) {
        err = esp_partition_erase_range(model.part, model.erased, model.part->erase_size);
        if (err != ESP_OK) {
            log_err("esp_partition_erase_range", err);
            return TP_ERR_OUT_OF_MEMORY;
        }
        model.erased += model.part->erase_size;
    }
    err = esp_partition_write(model.part, offset, p, n);
    if (err != ESP_OK) {
        log_err("esp_partition_write", err);
        return TP_ERR_OUT_OF_MEMORY;
    }
    return TP_OK;
}

int tp_port_model_end(tp_model_info *info)
{
    int r;
    /* ESP_PARTITION_MMAP_DATA allows byte access; the weights are read in
     * place through the flash cache and never copied to RAM. */
    esp_err_t err = esp_partition_mmap(model.part, 0, model.size, ESP_PARTITION_MMAP_DATA, &model.map,
                                       &model.handle);
    if (err != ESP_OK) {
        log_err("esp_partition_mmap", err); /* ESP_ERR_NO_MEM: bigger than the MMU's window */
        model.map = NULL;
        return TP_ERR_MODEL_TOO_LARGE;
    }
    r = tp_llama2_load(model.map, model.size, TP_REGION_FLASH, info);
    if (r != TP_OK)
        unmap();
    return r;
}

/* ---- inference ---- */

static void peaks(tp_gen *g)
{
    /* Since boot, not since GENERATE: the allocator keeps one low-water mark. */
    g->peak_heap = (uint32_t)(heap_caps_get_total_size(MALLOC_CAP_INTERNAL) -
                              heap_caps_get_minimum_free_size(MALLOC_CAP_INTERNAL));
    g->peak_psram = (uint32_t)(heap_caps_get_total_size(MALLOC_CAP_SPIRAM) -
                               heap_caps_get_minimum_free_size(MALLOC_CAP_SPIRAM));
}

int tp_port_gen_start(tp_gen *g)
{
    int r = tp_llama2_start(g);
    peaks(g);
    return r;
}

int tp_port_gen_next(tp_gen *g, uint32_t *token)
{
    int r = tp_llama2_next(g, token);
    peaks(g);
    return r;
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
    /* Before the tasks exist: tp_agent_init clears the receive ring. */
    tp_agent_init(&agent, &config);
    /* The agent task first, so that agent_task is set when rx notifies. */
    if (xTaskCreatePinnedToCore(agent_main, "tinyprof", 8192, NULL, 5, &agent_task,
                                CONFIG_TINYPROF_TASK_CORE) != pdPASS)
        return ESP_ERR_NO_MEM;
    if (xTaskCreatePinnedToCore(rx_task, "tinyprof-rx", 3072, NULL, 6, NULL, CONFIG_TINYPROF_TASK_CORE) != pdPASS)
        return ESP_ERR_NO_MEM;
    return ESP_OK;
}
