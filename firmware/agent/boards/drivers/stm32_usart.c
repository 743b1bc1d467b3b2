/*
 * stm32_usart.c - the USART of the STM32F4 family (RM0090, section 30.6):
 * SR 0x00 (bit 5 RXNE, bit 7 TXE), DR 0x04, BRR 0x08, CR1 0x0C (bit 13
 * UE, bit 5 RXNEIE, bit 3 TE, bit 2 RE).
 *
 * The receive interrupt is level-triggered on RXNE, so masking RXNEIE
 * with a byte unread holds the line, and unmasking it raises the interrupt
 * again. Pin multiplexing (GPIO alternate functions) is not set up: QEMU's
 * netduinoplus2 does not model GPIO, and real silicon needs it.
 */
#include "board.h"

#define USART_SR TP_REG(TP_BOARD_UART_BASE + 0x00u)
#define USART_DR TP_REG(TP_BOARD_UART_BASE + 0x04u)
#define USART_BRR TP_REG(TP_BOARD_UART_BASE + 0x08u)
#define USART_CR1 TP_REG(TP_BOARD_UART_BASE + 0x0Cu)

#define SR_RXNE (1u << 5)
#define SR_TXE (1u << 7)
#define CR1_ON (1u << 13 | 1u << 3 | 1u << 2) /* UE, TE, RE */
#define CR1_RXNEIE (1u << 5)

void uart_init(void)
{
    TP_BOARD_UART_CLOCK_ENABLE();
    USART_BRR = (TP_BOARD_UART_CLK_HZ + 115200u / 2u) / 115200u;
    USART_CR1 = CR1_ON | CR1_RXNEIE;
    nvic_enable(TP_BOARD_UART_IRQ);
}

void uart_write(const uint8_t *p, uint32_t n)
{
    while (n--) {
        while (!(USART_SR & SR_TXE))
            ;
        USART_DR = *p++;
    }
}

void uart_rx_isr(void)
{
    while (USART_SR & SR_RXNE) {
        if (!board_rx_room()) {
            USART_CR1 = CR1_ON;
            return;
        }
        board_rx_push((uint8_t)USART_DR);
    }
}

void uart_rx_resume(void)
{
    USART_CR1 = CR1_ON | CR1_RXNEIE;
    uart_rx_isr();
}
