#pragma once
#include <stddef.h>
#include "pico/stdlib.h"
typedef struct uart_inst uart_inst_t;
extern uart_inst_t *const uart0_inst; /* the SDK's uart0 is a cast of the register block */
#define uart0 uart0_inst
uint uart_init(uart_inst_t *uart, uint baudrate);
void uart_set_irq_enables(uart_inst_t *uart, bool rx_has_data, bool tx_needs_data);
bool uart_is_readable(uart_inst_t *uart);
char uart_getc(uart_inst_t *uart);
void uart_write_blocking(uart_inst_t *uart, const uint8_t *src, size_t len);
void uart_tx_wait_blocking(uart_inst_t *uart);
