/*
 * board.h - what the common firmware (main.c, startup.c) needs from one
 * target: its configuration macros (the target's config.h, found on the
 * include path) and its serial driver (drivers/).
 *
 * A target directory holds config.h and link.ld; the harness (device/emu)
 * compiles the common sources, one driver, the agent and the inference hooks with
 * -I<target>. README.md lists the targets and the memory each one uses.
 */
#ifndef TP_BOARD_H
#define TP_BOARD_H

#include <stdint.h>

#include "config.h"

#ifndef TP_BOARD_MACHINE
#error "config.h must define TP_BOARD_MACHINE (the QEMU machine name)"
#endif
#if !defined(TP_BOARD_TICK_HZ) || TP_BOARD_TICK_HZ % 1000000 != 0
#error "config.h must define TP_BOARD_TICK_HZ, the SysTick clock, a whole number of MHz"
#endif
#ifndef TP_BOARD_IRQS
#error "config.h must define TP_BOARD_IRQS, the external interrupts in the vector table"
#endif

/* Cortex-M system control registers (ARMv7-M/ARMv8-M ARM, B3.2). */
#define TP_REG(a) (*(volatile uint32_t *)(a))
#define SCB_ICSR TP_REG(0xE000ED04u)
#define SCB_VTOR TP_REG(0xE000ED08u)
#define SCB_AIRCR TP_REG(0xE000ED0Cu)
#define SCB_CPACR TP_REG(0xE000ED88u)
#define SYST_CSR TP_REG(0xE000E010u)
#define SYST_RVR TP_REG(0xE000E014u)
#define SYST_CVR TP_REG(0xE000E018u)
#define NVIC_ISER(n) TP_REG(0xE000E100u + 4u * (n))

#define ICSR_PENDSTSET (1u << 26)
#define AIRCR_RESET (0x05FAu << 16 | 1u << 2) /* VECTKEY, SYSRESETREQ */

static inline void irq_disable(void) { __asm volatile("cpsid i" ::: "memory"); }
static inline void irq_enable(void) { __asm volatile("cpsie i" ::: "memory"); }
static inline void nvic_enable(unsigned irq) { NVIC_ISER(irq / 32u) = 1u << (irq % 32u); }

/* The serial driver. uart_init leaves the receive interrupt enabled;
 * uart_rx_isr (installed at TP_BOARD_UART_IRQ) and uart_rx_resume read
 * bytes into board_rx_push while board_rx_room says there is room; when
 * there is none they leave the byte in the UART with the interrupt masked,
 * so the emulated line holds the sender back instead of dropping bytes. */
void uart_init(void);
void uart_write(const uint8_t *p, uint32_t n);
void uart_rx_isr(void);
/* uart_rx_resume unmasks the receive interrupt and takes what the UART
 * holds; main.c calls it with interrupts disabled once the ring has room. */
void uart_rx_resume(void);

/* board_rx_room reports whether the ring takes another byte; when it does
 * not, it marks the ring stalled, and the main loop calls uart_rx_resume
 * once it has drained it. board_rx_push queues one byte after a yes. */
int board_rx_room(void);
void board_rx_push(uint8_t b);

#endif
