#pragma once
#include <stdbool.h>
#include <stdint.h>
typedef unsigned int uint;
#define PICO_FLASH_SIZE_BYTES (2 * 1024 * 1024)
#define XIP_BASE 0x10000000u
uint64_t time_us_64(void);
void tight_loop_contents(void);
