/*
 * tinyprof_esp.h - the tinyprof agent as an ESP-IDF component.
 */
#ifndef TINYPROF_ESP_H
#define TINYPROF_ESP_H

#include "esp_err.h"

/* tinyprof_esp_start installs the UART driver on CONFIG_TINYPROF_UART_PORT
 * and starts the agent's two tasks on CONFIG_TINYPROF_TASK_CORE. Call it
 * once, from app_main; it returns ESP_OK or the failing driver call's
 * error. */
esp_err_t tinyprof_esp_start(void);

#endif
