#pragma once
#include "pico/stdlib.h"
enum gpio_function { GPIO_FUNC_XIP = 0, GPIO_FUNC_SPI = 1, GPIO_FUNC_UART = 2 };
void gpio_set_function(uint gpio, enum gpio_function fn);
