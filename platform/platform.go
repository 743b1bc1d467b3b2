// Package platform is the catalogue of boards tinyprof knows: their cores,
// clocks, memories and flashing tools, each row citing the datasheet it came
// from.
//
// The catalogue is a leaf: it imports nothing else of tinyprof, so the model
// package (memory fit), the device client (detection), the simulated board
// (cost model) and the CLI all read the same figures.
//
// Memory sizes are what the chip or the reference module offers to
// software, in bytes. Bandwidths are effective sequential-read rates used by
// the simulated board's cost model; they are modelled, not measured, and the
// field comments say so.
package platform

import (
	"fmt"
	"slices"
	"sort"
	"strings"
)

// KiB and MiB are byte multiples used in the catalogue.
const (
	KiB = 1 << 10
	MiB = 1 << 20
	GiB = 1 << 30
)

// Region names a kind of memory on a board.
type Region string

// The memory regions a model's weights, KV cache and scratch can live in.
const (
	SRAM  Region = "sram"  // on-chip RAM
	PSRAM Region = "psram" // external (or in-package) pseudo-static RAM, or DRAM on an SBC
	Flash Region = "flash" // external or on-chip flash, read in place (XIP / memory mapped)
)

// Platform describes one kind of board.
type Platform struct {
	// Name is the catalogue key, lower case: "esp32s3".
	Name string `json:"name"`
	// Chip is the SoC or MCU part the row describes.
	Chip string `json:"chip"`
	// Board is the reference board or module the memory sizes come from,
	// where they depend on the module rather than the chip.
	Board string `json:"board"`
	// Core is the CPU core, e.g. "Xtensa LX7".
	Core string `json:"core"`
	// Cores is the number of application cores.
	Cores int `json:"cores"`
	// CPUMHz is the maximum CPU clock.
	CPUMHz int `json:"cpu_mhz"`
	// SRAM is on-chip RAM in bytes.
	SRAM int64 `json:"sram"`
	// PSRAM is external RAM in bytes (DRAM on a Linux board), 0 if none.
	PSRAM int64 `json:"psram"`
	// Flash is program/data flash in bytes (0 where storage is an SD card or disk).
	Flash int64 `json:"flash"`
	// FPU describes floating point support: "none", "sp" or "dp".
	FPU string `json:"fpu"`
	// SIMD names the vector or DSP extension, "" if none.
	SIMD string `json:"simd"`
	// XIP reports whether constant data can be read in place from flash
	// (execute-in-place or a memory-mapped cache), so weights need not be
	// copied to RAM.
	XIP bool `json:"xip"`
	// DefaultBaud is the console UART rate the vendor's tools use.
	DefaultBaud int `json:"default_baud"`
	// FlashTool is the flasher the vendor documents for the board.
	FlashTool string `json:"flash_tool"`
	// PSRAMBus describes the external RAM interface ("quad SPI 80 MHz",
	// "octal DDR 80 MHz", "SDRAM 16-bit 166 MHz"), "" when there is none.
	PSRAMBus string `json:"psram_bus,omitempty"`
	// Bandwidth is the modelled effective read bandwidth of each region in
	// bytes per second, as seen by a core streaming weights through its
	// cache. These are estimates for the cost model (package platform/cost),
	// not measurements; Estimates says how each was reached.
	Bandwidth Bandwidths `json:"bandwidth"`
	// CPI is the modelled cycles per instruction of llama2.c-style scalar
	// kernels on this core (loads from cache, float multiply-adds in a
	// dependent chain, loop overhead): the cost model multiplies the
	// emulated boards' exact instruction counts by it. An estimate.
	CPI float64 `json:"cpi"`
	// SIMDSpeedup is how much faster than scalar code the vendor's SIMD dot
	// product (ESP-DSP on the ESP32-S3's PIE, NEON, Helium) runs a matrix
	// row, where a firmware uses it; 1 (or 0) where there is none. An
	// estimate.
	SIMDSpeedup float64 `json:"simd_speedup"`
	// Prefetch reports a core whose weight reads overlap its arithmetic
	// (a hardware prefetcher or a deep out-of-order window), so a token
	// costs the larger of memory and compute time rather than their sum.
	Prefetch bool `json:"prefetch"`
	// Estimates says where the modelled figures (Bandwidth, CPI,
	// SIMDSpeedup) come from; they are estimates unless it cites a
	// measurement.
	Estimates string `json:"estimates,omitempty"`
	// Linux reports a board that runs Linux (SBC) rather than bare metal.
	Linux bool `json:"linux"`
	// Emulated marks a machine emulated by QEMU (package device/emu), on
	// which tinyprof's own firmware runs: its memories are those the
	// emulated machine offers, its clock is instruction-count time (1 ns
	// per guest instruction), not a cycle count of real silicon, and every
	// figure from it is labelled emulated. Its Bandwidth and CPI
	// are zero: nothing models it, the firmware runs.
	Emulated bool `json:"emulated"`
	// Datasheet cites where the figures come from.
	Datasheet string `json:"datasheet"`
}

// Bandwidths holds the modelled effective read bandwidth of each memory
// region, in bytes per second; 0 where the board has no such region.
type Bandwidths struct {
	SRAM  float64 `json:"sram"`
	PSRAM float64 `json:"psram"`
	Flash float64 `json:"flash"`
}

// Of returns the bandwidth of region r.
func (b Bandwidths) Of(r Region) float64 {
	switch r {
	case SRAM:
		return b.SRAM
	case PSRAM:
		return b.PSRAM
	case Flash:
		return b.Flash
	}
	return 0
}

// Capacity returns the size of region r in bytes.
func (p Platform) Capacity(r Region) int64 {
	switch r {
	case SRAM:
		return p.SRAM
	case PSRAM:
		return p.PSRAM
	case Flash:
		return p.Flash
	}
	return 0
}

// String returns the platform name.
func (p Platform) String() string { return p.Name }

// catalogue rows. Bandwidths: SRAM ≈ 4 bytes per cycle at CPUMHz; QSPI/OPI
// flash and PSRAM through the cache at a fraction of their bus rate. The
// ESP32-S3 PSRAM figure is calibrated so that the simulated stories260K
// model (1 MB of float32 weights in PSRAM) decodes at about 19 tok/s, the
// rate DaveBben/esp32-llm reports on an ESP32-S3 at 240 MHz.
var catalogue = []Platform{
	{
		Name: "esp32", Chip: "ESP32-D0WD-V3", Board: "ESP32-WROVER-E (4 MiB flash, 8 MiB PSRAM)",
		Core: "Xtensa LX6", Cores: 2, CPUMHz: 240,
		SRAM: 520 * KiB, PSRAM: 8 * MiB, Flash: 4 * MiB, FPU: "sp", SIMD: "",
		XIP: true, DefaultBaud: 115200, FlashTool: "esptool",
		PSRAMBus:  "quad SPI 40 MHz",
		Bandwidth: Bandwidths{SRAM: 960e6, PSRAM: 14e6, Flash: 12e6},
		CPI:       1.5, SIMDSpeedup: 1,
		Estimates: "bandwidths: quad PSRAM at 40 MHz and quad flash at 40 MHz through the cache, about a third of the bus rate; CPI of Xtensa LX6 scalar float loops; all estimates",
		Datasheet: "Espressif ESP32 Series Datasheet v4.6 §4.1.2 (520 KB SRAM), ESP32-WROVER-E Datasheet v2.0 (4 MB flash, 8 MB PSRAM)",
	},
	{
		Name: "esp32s3", Chip: "ESP32-S3", Board: "ESP32-S3-WROOM-1-N16R8 (16 MiB flash, 8 MiB octal PSRAM)",
		Core: "Xtensa LX7", Cores: 2, CPUMHz: 240,
		SRAM: 512 * KiB, PSRAM: 8 * MiB, Flash: 16 * MiB, FPU: "sp", SIMD: "PIE 128-bit",
		XIP: true, DefaultBaud: 115200, FlashTool: "esptool",
		PSRAMBus:  "octal DDR 80 MHz",
		Bandwidth: Bandwidths{SRAM: 960e6, PSRAM: 60e6, Flash: 20e6},
		CPI:       1.3, SIMDSpeedup: 3,
		Estimates: "PSRAM: octal DDR at 80 MHz is 160 MB/s on the bus; a 32-byte cache-line fill costs about 30 bus cycles with command, address and latency, and the core stalls while it waits, so about 60 MB/s; flash quad at 80 MHz, about 20 MB/s the same way; CPI of the Xtensa LX7 in scalar float loops 1.3; ESP-DSP dsps_dotprod_f32 on the PIE about 3x scalar C; all estimates",
		Datasheet: "Espressif ESP32-S3 Series Datasheet v2.0 §4.1.3 (512 KB SRAM), ESP32-S3-WROOM-1 Datasheet v1.4 (N16R8 variant)",
	},
	{
		Name: "esp32s3-fh4r2", Chip: "ESP32-S3FH4R2", Board: "ESP32-S3FH4R2 (4 MiB in-package flash, 2 MiB in-package quad PSRAM)",
		Core: "Xtensa LX7", Cores: 2, CPUMHz: 240,
		SRAM: 512 * KiB, PSRAM: 2 * MiB, Flash: 4 * MiB, FPU: "sp", SIMD: "PIE 128-bit",
		XIP: true, DefaultBaud: 115200, FlashTool: "esptool",
		PSRAMBus:  "quad SPI 80 MHz",
		Bandwidth: Bandwidths{SRAM: 960e6, PSRAM: 22e6, Flash: 20e6},
		CPI:       1.3, SIMDSpeedup: 3,
		Estimates: "PSRAM: quad SPI at 80 MHz is 40 MB/s on the bus; a 32-byte cache-line fill takes about 80 bus cycles with command, address and dummy cycles, and the core stalls on it, so about 22 MB/s; CPI and ESP-DSP as the esp32s3 row; all estimates",
		Datasheet: "Espressif ESP32-S3 Series Datasheet v2.0 §1 and Table 1-1 (ESP32-S3FH4R2: 4 MB flash and 2 MB quad PSRAM in package); the chip of DaveBben/esp32-llm's README",
	},
	{
		Name: "imxrt1176", Chip: "NXP i.MX RT1176", Board: "Coral Dev Board Micro (64 MiB SDRAM, 128 MiB flash)",
		Core: "Arm Cortex-M7", Cores: 1, CPUMHz: 800,
		SRAM: 2 * MiB, PSRAM: 64 * MiB, Flash: 128 * MiB, FPU: "dp", SIMD: "DSP (Armv7E-M)",
		XIP: true, DefaultBaud: 115200, FlashTool: "coralmicro flashtool",
		PSRAMBus:  "SDRAM (SEMC)",
		Bandwidth: Bandwidths{SRAM: 3200e6, PSRAM: 200e6, Flash: 50e6},
		CPI:       1.0, SIMDSpeedup: 1,
		Estimates: "SDRAM through the SEMC and the M7's 32 KB data cache about 200 MB/s; TCM/OCRAM 64-bit at 800 MHz; FlexSPI flash XIP about 50 MB/s; CPI as the stm32h7 row; all estimates. Cores counts the M7 that runs inference (the chip's Cortex-M4 is a second, separate core)",
		Datasheet: "NXP i.MX RT1170 Data Sheet IMXRT1170CEC (Cortex-M7 up to 1 GHz, Cortex-M4 400 MHz, 2 MB on-chip RAM); Coral Dev Board Micro datasheet (RT1176 at 800 MHz, 64 MB RAM, 128 MB flash); maxbbraun/llama4micro README (inference on the 800 MHz M7)",
	},
	{
		Name: "k210", Chip: "Kendryte K210", Board: "Sipeed Maix Bit (16 MiB SPI flash)",
		Core: "RISC-V RV64GC", Cores: 2, CPUMHz: 400,
		SRAM: 6 * MiB, PSRAM: 0, Flash: 16 * MiB, FPU: "dp", SIMD: "",
		XIP: false, DefaultBaud: 115200, FlashTool: "kflash",
		Bandwidth: Bandwidths{SRAM: 1600e6},
		CPI:       1.5, SIMDSpeedup: 1,
		Estimates: "general-purpose SRAM 64-bit at 400 MHz through a 32 KB data cache; CPI 1.5 for an in-order single-issue core in dependent float chains; estimates. SRAM counts the 6 MB for general use (2 MB more belong to the KPU)",
		Datasheet: "Kendryte K210 Datasheet v0.1.5 §1 (dual RV64GC at 400 MHz nominal, FPU, 8 MiB SRAM of which 6 MiB general purpose); Sipeed Maix Bit (16 MB flash)",
	},
	{
		Name: "rp2350-psram", Chip: "RP2350B", Board: "Pimoroni Pico Plus 2 W (16 MiB QSPI flash, 8 MiB QSPI PSRAM APS6404L)",
		Core: "Arm Cortex-M33", Cores: 2, CPUMHz: 150,
		SRAM: 520 * KiB, PSRAM: 8 * MiB, Flash: 16 * MiB, FPU: "sp", SIMD: "DSP (Armv8-M)",
		XIP: true, DefaultBaud: 115200, FlashTool: "picotool",
		PSRAMBus:  "QSPI (QMI) 75 MHz",
		Bandwidth: Bandwidths{SRAM: 600e6, PSRAM: 30e6, Flash: 25e6},
		CPI:       1.3, SIMDSpeedup: 1,
		Estimates: "PSRAM on the QMI's second chip select at clk_sys/2 through the 16 KB XIP cache, about 30 MB/s; CPI as the rp2350 row; estimates",
		Datasheet: "Raspberry Pi RP2350 Datasheet §4.4 (QMI, two chip selects, XIP cache); Pimoroni PIM726 product page (RP2350B, 16 MB flash, 8 MB PSRAM); romilly/pico_llama README",
	},
	{
		Name: "esp32p4", Chip: "ESP32-P4", Board: "ESP32-P4-Function-EV-Board (16 MiB flash, 32 MiB in-package PSRAM)",
		Core: "RISC-V RV32IMAFC (HP)", Cores: 2, CPUMHz: 400,
		SRAM: 768 * KiB, PSRAM: 32 * MiB, Flash: 16 * MiB, FPU: "sp", SIMD: "PIE AI extensions",
		XIP: true, DefaultBaud: 115200, FlashTool: "esptool",
		PSRAMBus:  "16-line DDR 200 MHz (in package)",
		Bandwidth: Bandwidths{SRAM: 1600e6, PSRAM: 200e6, Flash: 30e6},
		CPI:       1.2, SIMDSpeedup: 3,
		Estimates: "PSRAM: 16-line DDR at 200 MHz (800 MB/s on the bus) through a 64-byte-line L2 cache, about a quarter of it; CPI of the HP RISC-V core in scalar float loops 1.2; PIE dot products about 3x; all estimates",
		Datasheet: "Espressif ESP32-P4 Series Datasheet v0.5 §1 (dual HP RISC-V up to 400 MHz, 768 KB HP L2MEM, up to 32 MB in-package PSRAM)",
	},
	{
		Name: "stm32f4", Chip: "STM32F407VG", Board: "STM32F4-Discovery",
		Core: "Arm Cortex-M4F", Cores: 1, CPUMHz: 168,
		SRAM: 192 * KiB, PSRAM: 0, Flash: 1 * MiB, FPU: "sp", SIMD: "DSP (Armv7E-M)",
		XIP: true, DefaultBaud: 115200, FlashTool: "st-flash",
		Bandwidth: Bandwidths{SRAM: 672e6, Flash: 150e6},
		CPI:       1.3, SIMDSpeedup: 1,
		Estimates: "flash through the ART accelerator at 168 MHz, 128-bit lines; CPI of the Cortex-M4F in dependent VFMA chains 1.3; the DSP extension has no float SIMD; all estimates",
		Datasheet: "ST DS8626 STM32F405xx/407xx Rev 9 §2.2 (168 MHz, 1 MB flash, 192 KB SRAM incl. 64 KB CCM)",
	},
	{
		Name: "stm32f7", Chip: "STM32F767ZI", Board: "NUCLEO-F767ZI",
		Core: "Arm Cortex-M7", Cores: 1, CPUMHz: 216,
		SRAM: 512 * KiB, PSRAM: 0, Flash: 2 * MiB, FPU: "dp", SIMD: "DSP (Armv7E-M)",
		XIP: true, DefaultBaud: 115200, FlashTool: "st-flash",
		Bandwidth: Bandwidths{SRAM: 864e6, Flash: 300e6},
		CPI:       1.0, SIMDSpeedup: 1,
		Estimates: "CPI of the dual-issue Cortex-M7 held back by dependent float multiply-adds 1.0; no float SIMD; all estimates",
		Datasheet: "ST DS11532 STM32F765xx/767xx Rev 7 §2 (216 MHz, 2 MB flash, 512 KB SRAM)",
	},
	{
		Name: "stm32h7", Chip: "STM32H743ZI", Board: "NUCLEO-H743ZI2",
		Core: "Arm Cortex-M7", Cores: 1, CPUMHz: 480,
		SRAM: 1 * MiB, PSRAM: 0, Flash: 2 * MiB, FPU: "dp", SIMD: "DSP (Armv7E-M)",
		XIP: true, DefaultBaud: 115200, FlashTool: "st-flash",
		Bandwidth: Bandwidths{SRAM: 1920e6, Flash: 600e6},
		CPI:       1.0, SIMDSpeedup: 1,
		Estimates: "CPI of the dual-issue Cortex-M7 held back by dependent float multiply-adds 1.0; no float SIMD; flash through the 64-bit AXI at 480 MHz with wait states; all estimates",
		Datasheet: "ST DS12110 STM32H742xI/G STM32H743xI/G Rev 10 §3 (480 MHz, 2 MB flash, 1 MB RAM incl. TCM)",
	},
	{
		Name: "rp2040", Chip: "RP2040", Board: "Raspberry Pi Pico (2 MiB QSPI flash)",
		Core: "Arm Cortex-M0+", Cores: 2, CPUMHz: 133,
		SRAM: 264 * KiB, PSRAM: 0, Flash: 2 * MiB, FPU: "none", SIMD: "",
		XIP: true, DefaultBaud: 115200, FlashTool: "picotool",
		Bandwidth: Bandwidths{SRAM: 532e6, Flash: 20e6},
		CPI:       12, SIMDSpeedup: 1,
		Estimates: "CPI 12: no FPU, so each float operation the Cortex-M4 counts as one instruction is a software routine of tens of cycles on the M0+ (the ROM float library); flash XIP at 133 MHz QSPI through a 16 KB cache; all estimates",
		Datasheet: "Raspberry Pi RP2040 Datasheet (2021-01) §1 (dual Cortex-M0+ 133 MHz, 264 kB SRAM); Pico Datasheet §2.1 (2 MB QSPI flash)",
	},
	{
		Name: "rp2350", Chip: "RP2350A", Board: "Raspberry Pi Pico 2 (4 MiB QSPI flash)",
		Core: "Arm Cortex-M33", Cores: 2, CPUMHz: 150,
		SRAM: 520 * KiB, PSRAM: 0, Flash: 4 * MiB, FPU: "sp", SIMD: "DSP (Armv8-M)",
		XIP: true, DefaultBaud: 115200, FlashTool: "picotool",
		Bandwidth: Bandwidths{SRAM: 600e6, Flash: 25e6},
		CPI:       1.3, SIMDSpeedup: 1,
		Estimates: "CPI of the Cortex-M33 with its single-precision FPU in dependent float chains 1.3; flash XIP QSPI through a 16 KB cache; all estimates",
		Datasheet: "Raspberry Pi RP2350 Datasheet §1 (dual Cortex-M33 150 MHz, 520 kB SRAM); Pico 2 Datasheet (4 MB QSPI flash)",
	},
	{
		Name: "nrf52840", Chip: "nRF52840", Board: "nRF52840 DK",
		Core: "Arm Cortex-M4F", Cores: 1, CPUMHz: 64,
		SRAM: 256 * KiB, PSRAM: 0, Flash: 1 * MiB, FPU: "sp", SIMD: "DSP (Armv7E-M)",
		XIP: true, DefaultBaud: 115200, FlashTool: "nrfjprog",
		Bandwidth: Bandwidths{SRAM: 256e6, Flash: 128e6},
		CPI:       1.3, SIMDSpeedup: 1,
		Estimates: "CPI as the Cortex-M4F of stm32f4; flash with its cache at 64 MHz; all estimates",
		Datasheet: "Nordic nRF52840 Product Specification v1.7 §1 (64 MHz Cortex-M4F, 1 MB flash, 256 KB RAM)",
	},
	{
		Name: "rpi4", Chip: "BCM2711", Board: "Raspberry Pi 4 Model B (4 GB)",
		Core: "Arm Cortex-A72", Cores: 4, CPUMHz: 1500,
		SRAM: 0, PSRAM: 4 * GiB, Flash: 0, FPU: "dp", SIMD: "NEON",
		XIP: false, DefaultBaud: 115200, FlashTool: "rpi-imager",
		Bandwidth: Bandwidths{PSRAM: 4e9},
		CPI:       0.6, SIMDSpeedup: 3, Prefetch: true,
		Linux:     true,
		Estimates: "LPDDR4-3200 stream rate about 4 GB/s through a 1 MB L2; Cortex-A72 out of order, 3-wide, held to about 0.6 cycles per Cortex-M4 instruction by llama2.c's dependent float multiply-add chain; NEON about 3x; prefetch overlaps the stream; all estimates",
		Datasheet: "Raspberry Pi 4 Model B Product Brief and BCM2711 documentation (quad Cortex-A72 at 1.5 GHz, 1 MB L2, LPDDR4-3200)",
	},
	{
		Name: "rpi-zero-2w", Chip: "RP3A0 (BCM2710A1)", Board: "Raspberry Pi Zero 2 W",
		Core: "Arm Cortex-A53", Cores: 4, CPUMHz: 1000,
		SRAM: 0, PSRAM: 512 * MiB, Flash: 0, FPU: "dp", SIMD: "NEON",
		XIP: false, DefaultBaud: 115200, FlashTool: "rpi-imager",
		Bandwidth: Bandwidths{PSRAM: 1.5e9},
		CPI:       0.9, SIMDSpeedup: 3, Prefetch: true,
		Estimates: "LPDDR2 stream rate about 1.5 GB/s; Cortex-A53 in-order dual issue, CPI 0.9; NEON 4-wide float about 3x; hardware prefetch overlaps the stream; all estimates",
		Linux:     true,
		Datasheet: "Raspberry Pi Zero 2 W Product Brief (2021-10): quad Cortex-A53 1 GHz, 512 MB LPDDR2",
	},
	{
		Name: "jetson-orin-nano", Chip: "NVIDIA Orin (T234)", Board: "Jetson Orin Nano 8GB Developer Kit",
		Core: "Arm Cortex-A78AE", Cores: 6, CPUMHz: 1500,
		SRAM: 0, PSRAM: 8 * GiB, Flash: 0, FPU: "dp", SIMD: "NEON/SVE-less; Ampere GPU 1024 CUDA cores",
		XIP: false, DefaultBaud: 115200, FlashTool: "l4t-flash",
		Bandwidth: Bandwidths{PSRAM: 68e9},
		CPI:       0.5, SIMDSpeedup: 4, Prefetch: true,
		Estimates: "CPU side only: LPDDR5 68 GB/s (data sheet), Cortex-A78AE out of order CPI 0.5, NEON about 4x; estimates",
		Linux:     true,
		Datasheet: "NVIDIA Jetson Orin Nano Series Data Sheet DS-11105-001 v1.x (6-core A78AE 1.5 GHz, 8 GB 128-bit LPDDR5 68 GB/s)",
	},
	// The emulated machines of package device/emu. The memories are what
	// QEMU 7.2's model of each machine offers and what the firmware reports
	// in INFO (device/emu's machine table, firmware/agent/boards/README.md);
	// CPUMHz is the clock the firmware's timer counts, but under
	// -icount shift=0 time advances 1 ns per instruction whatever it is.
	{
		Name: "mps2-an386", Chip: "Arm MPS2+ AN386 (QEMU mps2-an386)", Board: "QEMU mps2-an386 (emulated)",
		Core: "Arm Cortex-M4F", Cores: 1, CPUMHz: 25,
		SRAM: 4 * MiB, PSRAM: 16 * MiB, Flash: 4 * MiB, FPU: "sp", SIMD: "DSP (Armv7E-M)",
		XIP: true, DefaultBaud: 115200, FlashTool: "qemu-system-arm",
		Emulated:  true,
		Datasheet: "Arm AN386 (Cortex-M4 on MPS2+); QEMU 7.2 hw/arm/mps2.c, checked with info mtree (firmware/agent/boards/mps2-an386/config.h)",
	},
	{
		Name: "mps2-an500", Chip: "Arm MPS2+ AN500 (QEMU mps2-an500)", Board: "QEMU mps2-an500 (emulated)",
		Core: "Arm Cortex-M7", Cores: 1, CPUMHz: 25,
		SRAM: 4 * MiB, PSRAM: 16 * MiB, Flash: 4 * MiB, FPU: "dp", SIMD: "DSP (Armv7E-M)",
		XIP: true, DefaultBaud: 115200, FlashTool: "qemu-system-arm",
		Emulated:  true,
		Datasheet: "Arm AN500 (Cortex-M7 on MPS2+); QEMU 7.2 hw/arm/mps2.c, checked with info mtree (firmware/agent/boards/mps2-an500/config.h)",
	},
	{
		Name: "mps2-an505", Chip: "Arm MPS2+ AN505 (QEMU mps2-an505)", Board: "QEMU mps2-an505 (emulated)",
		Core: "Arm Cortex-M33", Cores: 1, CPUMHz: 20,
		SRAM: 4 * MiB, PSRAM: 16 * MiB, Flash: 4 * MiB, FPU: "sp", SIMD: "DSP (Armv8-M)",
		XIP: true, DefaultBaud: 115200, FlashTool: "qemu-system-arm",
		Emulated:  true,
		Datasheet: "Arm AN505 (Cortex-M33 IoT kit on MPS2+); QEMU 7.2 hw/arm/mps2-tz.c, checked with info mtree (firmware/agent/boards/mps2-an505/config.h)",
	},
	{
		Name: "netduinoplus2", Chip: "STM32F405RG (QEMU netduinoplus2)", Board: "QEMU netduinoplus2 (emulated Netduino Plus 2)",
		Core: "Arm Cortex-M4F", Cores: 1, CPUMHz: 168,
		SRAM: 192 * KiB, PSRAM: 0, Flash: 1 * MiB, FPU: "sp", SIMD: "DSP (Armv7E-M)",
		XIP: true, DefaultBaud: 115200, FlashTool: "qemu-system-arm",
		Emulated:  true,
		Datasheet: "ST DS8626 STM32F405xx Rev 9 (1 MB flash, 192 KB SRAM); QEMU 7.2 hw/arm/stm32f405_soc.c (firmware/agent/boards/netduinoplus2/config.h)",
	},
}

// Emulated returns the names of the emulated machines, sorted.
func Emulated() []string {
	var names []string
	for _, p := range catalogue {
		if p.Emulated {
			names = append(names, p.Name)
		}
	}
	slices.Sort(names)
	return names
}

// All returns every platform in the catalogue, sorted by name. The caller
// owns the returned slice.
func All() []Platform {
	out := make([]Platform, len(catalogue))
	copy(out, catalogue)
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Names returns the catalogue keys, sorted.
func Names() []string {
	var names []string
	for _, p := range catalogue {
		names = append(names, p.Name)
	}
	slices.Sort(names)
	return names
}

// Lookup returns the platform called name (case-insensitive; "-" and "_"
// are interchangeable). An unknown name is an error that lists the known ones.
func Lookup(name string) (Platform, error) {
	key := strings.ReplaceAll(strings.ToLower(strings.TrimSpace(name)), "_", "-")
	for _, p := range catalogue {
		if p.Name == key {
			return p, nil
		}
	}
	return Platform{}, fmt.Errorf("unknown platform %q: known platforms are %s", name, strings.Join(Names(), ", "))
}
