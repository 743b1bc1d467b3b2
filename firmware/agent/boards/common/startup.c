/*
 * startup.c - vector table and reset handler for every target.
 *
 * Reset_Handler enables the FPU, copies .data from its load address,
 * clears .bss (but not .noinit) and calls main. A fault prints one line on
 * the serial port, which the host shows as board text, and resets the
 * board, so the host sees a reboot rather than silence.
 */
#include <stdint.h>

#include "board.h"

extern uint32_t __stack_top[];
extern uint32_t __data_load[], __data_start[], __data_end[];
extern uint32_t __bss_start[], __bss_end[];

int main(void);
void Reset_Handler(void);
void SysTick_Handler(void);

static void put_hex(uint32_t v)
{
    static const char digits[] = "0123456789abcdef";
    uint8_t s[8];
    int i;
    for (i = 7; i >= 0; i--) {
        s[i] = (uint8_t)digits[v & 15u];
        v >>= 4;
    }
    uart_write(s, 8);
}

/* fault_report runs on the faulting stack frame: sp[6] is the stacked PC. */
void fault_report(const uint32_t *sp, uint32_t exc)
{
    static const char a[] = "\r\ntinyprof board: fault, exception ";
    static const char b[] = " pc 0x";
    static const char c[] = "; resetting\r\n";
    uart_write((const uint8_t *)a, sizeof a - 1);
    put_hex(exc);
    uart_write((const uint8_t *)b, sizeof b - 1);
    put_hex(sp[6]);
    uart_write((const uint8_t *)c, sizeof c - 1);
    __asm volatile("dsb" ::: "memory");
    SCB_AIRCR = AIRCR_RESET;
    for (;;)
        ;
}

/* Fault_Handler finds the stacked frame (MSP or PSP, from EXC_RETURN bit 2)
 * and the exception number (IPSR) and reports them. */
__attribute__((naked)) void Fault_Handler(void)
{
    __asm volatile(
        "tst lr, #4\n\t"
        "ite eq\n\t"
        "mrseq r0, msp\n\t"
        "mrsne r0, psp\n\t"
        "mrs r1, ipsr\n\t"
        "b fault_report\n\t");
}

/* Unexpected interrupts are faults too: nothing else is enabled. */
#define Default_Handler Fault_Handler

typedef void (*vector)(void);

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Woverride-init"
__attribute__((section(".vectors"), used)) const vector vectors[16 + TP_BOARD_IRQS] = {
    [0] = (vector)(uintptr_t)__stack_top,
    [1] = Reset_Handler,
    [2 ... 15 + TP_BOARD_IRQS] = Default_Handler,
    [7 ... 10] = 0, /* reserved (7 is SecureFault on ARMv8-M; unused here) */
    [13] = 0,
    [15] = SysTick_Handler,
    [16 + TP_BOARD_UART_IRQ] = uart_rx_isr,
};
#pragma GCC diagnostic pop

void Reset_Handler(void)
{
    uint32_t *s, *d;
    /* CP10 and CP11 full access, before any floating-point instruction. */
    SCB_CPACR |= 0xFu << 20;
    __asm volatile("dsb\n\tisb" ::: "memory");
    SCB_VTOR = (uint32_t)(uintptr_t)vectors;
    for (s = __data_load, d = __data_start; d < __data_end;)
        *d++ = *s++;
    for (d = __bss_start; d < __bss_end;)
        *d++ = 0;
    main();
    for (;;)
        ;
}
