/*
 * netduinoplus2: the STM32F405RG of the Netduino Plus 2, as QEMU 7.2
 * models it (hw/arm/stm32f405_soc.c; `info mtree` shows the map): 1 MiB
 * flash at 0x08000000 (aliased at 0, where the core fetches its vectors),
 * 192 KiB SRAM at 0x20000000 (QEMU maps it as one block), USART1 at
 * 0x40011000 (interrupt 37, the console QEMU connects to serial0). SYSCLK
 * 168 MHz, APB2 84 MHz. Uploads land in a 32 KiB buffer in SRAM; a model
 * linked into flash (flash_model.S) is read in place.
 */
#define TP_BOARD_MACHINE "netduinoplus2"
#define TP_BOARD_CHIP "STM32F405RG, QEMU netduinoplus2 (emulated, instruction-count time)"
#define TP_BOARD_TICK_HZ 168000000u
#define TP_BOARD_IRQS 82
#define TP_BOARD_UART_BASE 0x40011000u
#define TP_BOARD_UART_IRQ 37
#define TP_BOARD_UART_CLK_HZ 84000000u
/* RCC_APB2ENR bit 4: USART1 clock. */
#define TP_BOARD_UART_CLOCK_ENABLE() (TP_REG(0x40023844u) |= 1u << 4)
#define TP_BOARD_SRAM (192u << 10)
#define TP_BOARD_PSRAM 0u
#define TP_BOARD_FLASH (1u << 20)
#define TP_BOARD_MODEL_REGION TP_REGION_SRAM
#define TP_BOARD_CTX_MAX 64
