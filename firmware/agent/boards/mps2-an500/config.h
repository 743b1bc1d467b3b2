/*
 * mps2-an500: Cortex-M7 on the MPS2 FPGA image of Arm application note
 * AN500, as QEMU 7.2 models it (hw/arm/mps2.c; `info mtree` shows the map):
 * 4 MiB ZBT SSRAM1 at 0x00000000 (code), 4 MiB SSRAM2/3 at 0x20000000
 * (data, stack, arena) and 16 MiB of RAM at 0x60000000 (model uploads) -
 * unlike AN386, QEMU leaves 0x21000000 unimplemented on this image. UART0
 * at 0x40004000, RX interrupt IRQ 0; SYSCLK 25 MHz.
 */
#define TP_BOARD_MACHINE "mps2-an500"
#define TP_BOARD_CHIP "Cortex-M7, QEMU mps2-an500 (emulated, instruction-count time)"
/* The FPGAIO COUNTER register counts SYSCLK, computed from virtual time. */
#define TP_BOARD_COUNTER 0x40028018u
#define TP_BOARD_TICK_HZ 25000000u
#define TP_BOARD_IRQS 32
#define TP_BOARD_UART_BASE 0x40004000u
#define TP_BOARD_UART_IRQ 0
#define TP_BOARD_UART_CLK_HZ 25000000u
#define TP_BOARD_SRAM (4u << 20)
#define TP_BOARD_PSRAM (16u << 20)
#define TP_BOARD_FLASH (4u << 20)
#define TP_BOARD_MODEL_REGION TP_REGION_PSRAM
#define TP_BOARD_CTX_MAX 0
