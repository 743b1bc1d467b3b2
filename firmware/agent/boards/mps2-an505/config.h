/*
 * mps2-an505: Cortex-M33 (Armv8-M with TrustZone) on the MPS2 FPGA image
 * of Arm application note AN505 (IoT Kit), as QEMU 7.2 models it
 * (hw/arm/mps2-tz.c; `info mtree` shows the map). The firmware runs in
 * the Secure state it boots in and uses the Secure aliases (address bit 28
 * set): SSRAM1 code at 0x10000000, 4 MiB SSRAM2/3 at 0x38000000 (data,
 * stack, arena), UART0 at 0x50200000 whose RX interrupt is IRQ 32 (IoT Kit
 * expansion interrupt 0). The 16 MiB PSRAM at 0x80000000 (model uploads)
 * has no Secure alias. SYSCLK 20 MHz.
 */
#define TP_BOARD_MACHINE "mps2-an505"
#define TP_BOARD_CHIP "Cortex-M33, QEMU mps2-an505 (emulated, instruction-count time)"
/* The FPGAIO COUNTER register (Secure alias) counts SYSCLK. */
#define TP_BOARD_COUNTER 0x50302018u
#define TP_BOARD_TICK_HZ 20000000u
#define TP_BOARD_IRQS 64
#define TP_BOARD_UART_BASE 0x50200000u
#define TP_BOARD_UART_IRQ 32
#define TP_BOARD_UART_CLK_HZ 20000000u
#define TP_BOARD_SRAM (4u << 20)
#define TP_BOARD_PSRAM (16u << 20)
#define TP_BOARD_FLASH (4u << 20)
#define TP_BOARD_MODEL_REGION TP_REGION_PSRAM
#define TP_BOARD_CTX_MAX 0
