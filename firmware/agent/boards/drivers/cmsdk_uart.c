/*
 * cmsdk_uart.c - the Arm CMSDK APB UART of the MPS2 FPGA images.
 *
 * Registers (Cortex-M System Design Kit TRM, ARM DDI 0479, "APB UART"):
 * DATA 0x00, STATE 0x04 (bit 0 TX full, bit 1 RX full), CTRL 0x08 (bit 0
 * TX enable, bit 1 RX enable, bit 3 RX interrupt enable), INTSTATUS 0x0C
 * (bit 1 RX, write 1 to clear), BAUDDIV 0x10 (at least 16).
 *
 * The receive interrupt is cleared before the data register is read, so a
 * byte that arrives after the last read raises it again.
 */
#include "board.h"

#define UART_DATA TP_REG(TP_BOARD_UART_BASE + 0x00u)
#define UART_STATE TP_REG(TP_BOARD_UART_BASE + 0x04u)
#define UART_CTRL TP_REG(TP_BOARD_UART_BASE + 0x08u)
#define UART_INTSTATUS TP_REG(TP_BOARD_UART_BASE + 0x0Cu)
#define UART_BAUDDIV TP_REG(TP_BOARD_UART_BASE + 0x10u)

#define STATE_TXFULL (1u << 0)
#define STATE_RXFULL (1u << 1)
#define CTRL_TXEN (1u << 0)
#define CTRL_RXEN (1u << 1)
#define CTRL_RXIRQ (1u << 3)
#define INT_RX (1u << 1)

void uart_init(void)
{
    UART_BAUDDIV = TP_BOARD_UART_CLK_HZ / 115200u;
    UART_INTSTATUS = 0xFu;
    UART_CTRL = CTRL_TXEN | CTRL_RXEN | CTRL_RXIRQ;
    nvic_enable(TP_BOARD_UART_IRQ);
}

void uart_write(const uint8_t *p, uint32_t n)
{
    while (n--) {
        while (UART_STATE & STATE_TXFULL)
            ;
        UART_DATA = *p++;
    }
}

void uart_rx_isr(void)
{
    UART_INTSTATUS = INT_RX;
    while (UART_STATE & STATE_RXFULL) {
        if (!board_rx_room()) {
            /* Leave the byte in the UART: QEMU offers no further byte until
             * it is read, so the host waits instead of losing data. */
            UART_CTRL = CTRL_TXEN | CTRL_RXEN;
            return;
        }
        board_rx_push((uint8_t)UART_DATA);
    }
}

void uart_rx_resume(void)
{
    UART_CTRL = CTRL_TXEN | CTRL_RXEN | CTRL_RXIRQ;
    uart_rx_isr();
}
