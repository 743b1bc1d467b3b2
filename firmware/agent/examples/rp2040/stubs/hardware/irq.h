#pragma once
#include "pico/stdlib.h"
#define UART0_IRQ 20
#define UART1_IRQ 21
typedef void (*irq_handler_t)(void);
void irq_set_exclusive_handler(uint num, irq_handler_t handler);
void irq_set_enabled(uint num, bool enabled);
