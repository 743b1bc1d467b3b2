/* The values `idf.py build` would generate from ../Kconfig and the target. */
#pragma once
#define CONFIG_IDF_TARGET "esp32s3"
#define CONFIG_ESP_DEFAULT_CPU_FREQ_MHZ 240
#define CONFIG_TINYPROF_UART_PORT 0
#define CONFIG_TINYPROF_UART_BAUD 115200
#define CONFIG_TINYPROF_MODEL_PARTITION "model"
#define CONFIG_TINYPROF_TASK_CORE 1
