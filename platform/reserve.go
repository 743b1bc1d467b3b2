package platform

// Reservation is memory a board's firmware keeps for itself before a model
// gets any: the firmware image in flash, the RTOS, drivers and stacks in
// RAM, the tinyprof agent and runtime.
type Reservation struct {
	Region Region `json:"region"`
	Bytes  int64  `json:"bytes"`
	// What names what the memory holds.
	What string `json:"what"`
	// Source cites where the figure comes from: a vendor document, or our
	// own measurement with the command that repeats it.
	Source string `json:"source"`
	// Estimate marks a figure that is judged, not cited or measured.
	Estimate bool `json:"estimate"`
}

// Measured sizes of tinyprof's own firmware (firmware/runtime/README.md and
// firmware/agent/README.md, from their size.sh on a Cortex-M4F at -Os): the
// runtime's text with every format compiled in plus the agent's, and the
// static RAM of both at the default 1024-byte payload.
const (
	agentText = 7960 + 5261      // runtime + agent text, bytes
	agentRAM  = 264 + 474 + 2382 // runtime port state + agent state + its buffers at payload 1024
)

var agentReservations = []Reservation{
	{Region: Flash, Bytes: agentText, What: "tinyprof runtime and agent code",
		Source: "measured: firmware/runtime/size.sh, Cortex-M4F -Os (7,960 B runtime + 5,261 B agent)"},
	{Region: SRAM, Bytes: agentRAM, What: "tinyprof runtime and agent state and protocol buffers",
		Source: "measured: firmware/agent/size.sh, Cortex-M4F -Os (264 B runtime + 474 B agent + 2,382 B buffers at payload 1024)"},
}

const espPSRAMReserve = "ESP-IDF Kconfig CONFIG_SPIRAM_MALLOC_RESERVE_INTERNAL, default 32768"

// espIDF is the reservation of an ESP-IDF application with the default
// partition table, PSRAM in the heap.
var espIDF = []Reservation{
	{Region: Flash, Bytes: 0x110000, What: "bootloader, partition table, NVS, PHY data and the 1 MiB factory app partition ahead of the model's data partition",
		Source: `ESP-IDF API guide "Partition Tables", built-in "Single factory app, no OTA" table (factory app at 0x10000, size 1M)`},
	{Region: SRAM, Bytes: 32 * KiB, What: "internal RAM ESP-IDF keeps from malloc for DMA and internal-only buffers when PSRAM joins the heap",
		Source: espPSRAMReserve},
	{Region: SRAM, Bytes: 64 * KiB, What: "FreeRTOS, the IDF's drivers and console, task stacks, and the caches carved from SRAM",
		Source: "estimate", Estimate: true},
	agentReservations[1], // the agent's code is inside the factory app partition
}

// picoSDK is the reservation of a Pico SDK application.
var picoSDK = []Reservation{
	agentReservations[0],
	{Region: Flash, Bytes: 48 * KiB, What: "Pico SDK runtime, boot2 (256 B) and stdio over USB (TinyUSB)",
		Source: "estimate", Estimate: true},
	{Region: SRAM, Bytes: 8 * KiB, What: "core 0 and core 1 stacks in the two 4 KiB scratch banks",
		Source: "pico-sdk memmap_default.ld (stacks in SCRATCH_X/SCRATCH_Y); RP2040 Datasheet §2.6.2, RP2350 Datasheet §4.2 (two 4 kB banks)"},
	{Region: SRAM, Bytes: 16 * KiB, What: "Pico SDK statics and TinyUSB buffers", Source: "estimate", Estimate: true},
	agentReservations[1],
}

// bareMetal is the reservation of a vendor-HAL application with the agent.
var bareMetal = []Reservation{
	agentReservations[0],
	{Region: Flash, Bytes: 16 * KiB, What: "vector table, startup code, HAL and UART driver", Source: "estimate", Estimate: true},
	{Region: SRAM, Bytes: 8 * KiB, What: "main stack, C library and HAL state", Source: "estimate", Estimate: true},
	agentReservations[1],
}

// eraseSector is the flash erase unit a model must start on, so that it can
// be rewritten without touching the firmware, with its source. Sizes are
// of the sectors at the start of flash, where the firmware ends.
var eraseSector = map[string]struct {
	sectors []int64 // sizes from the start of flash; the last repeats
	source  string
}{
	"stm32f4":  {[]int64{16 * KiB, 16 * KiB, 16 * KiB, 16 * KiB, 64 * KiB, 128 * KiB}, "ST RM0090 §3.3 Table 5 (sectors 0-3 of 16 KB, 4 of 64 KB, then 128 KB)"},
	"stm32f7":  {[]int64{32 * KiB, 32 * KiB, 32 * KiB, 32 * KiB, 128 * KiB, 256 * KiB}, "ST RM0410 §3.3.1 Table 4, single bank (sectors 0-3 of 32 KB, 4 of 128 KB, then 256 KB)"},
	"stm32h7":  {[]int64{128 * KiB}, "ST RM0433 §4.2 (128 KB sectors)"},
	"nrf52840": {[]int64{4 * KiB}, "Nordic nRF52840 PS v1.7 §4.3 (4 kB flash pages)"},
	"rp2040":   {[]int64{4 * KiB}, "Raspberry Pi Pico Datasheet §2.1 (W25Q16JV, 4 kB sectors)"},
	"rp2350":   {[]int64{4 * KiB}, "Raspberry Pi Pico 2 Datasheet (W25Q32RV, 4 kB sectors)"},
}

// linuxOS is the memory a Linux board's OS keeps from a process.
var linuxOS = map[string]Reservation{
	"rpi-zero-2w":      {Region: PSRAM, Bytes: 160 * MiB, What: "Raspberry Pi OS Lite and the GPU's memory split", Source: "estimate", Estimate: true},
	"jetson-orin-nano": {Region: PSRAM, Bytes: 1536 * MiB, What: "L4T Ubuntu, its desktop and the CUDA runtime", Source: "estimate", Estimate: true},
}

// FirmwareReserve lists the memory p's firmware keeps for itself, each
// figure with its source or marked as an estimate. The caller owns the
// returned slice. The placement model (model.Fit) takes it off each
// region's capacity, and so does the simulated board, so they agree.
func (p Platform) FirmwareReserve() []Reservation {
	var out []Reservation
	switch {
	case p.Linux:
		if r, ok := linuxOS[p.Name]; ok {
			return []Reservation{r}
		}
		return []Reservation{{Region: PSRAM, Bytes: min(p.PSRAM/4, 96*MiB), What: "the operating system", Source: "estimate", Estimate: true}}
	case p.FlashTool == "esptool":
		for _, r := range espIDF {
			if r.Source == espPSRAMReserve && p.PSRAM == 0 {
				continue // kept back only when PSRAM joins the heap
			}
			out = append(out, r)
		}
	case p.FlashTool == "picotool":
		out = append(out, picoSDK...)
	default:
		out = append(out, bareMetal...)
	}
	if es, ok := eraseSector[p.Name]; ok {
		var used int64
		for _, r := range out {
			if r.Region == Flash {
				used += r.Bytes
			}
		}
		if pad := sectorEnd(es.sectors, used) - used; pad > 0 {
			out = append(out, Reservation{Region: Flash, Bytes: pad, What: "the rest of the firmware's last erase sector, so the model starts on a sector of its own", Source: es.source})
		}
	}
	return out
}

// sectorEnd returns the first sector boundary at or after n.
func sectorEnd(sectors []int64, n int64) int64 {
	var at int64
	for i := 0; at < n; i++ {
		at += sectors[min(i, len(sectors)-1)]
	}
	return at
}

// Reserved returns the bytes of region r that p's firmware keeps: the sum
// of FirmwareReserve over r, at most the region's size.
func (p Platform) Reserved(r Region) int64 {
	var n int64
	for _, res := range p.FirmwareReserve() {
		if res.Region == r {
			n += res.Bytes
		}
	}
	return min(n, p.Capacity(r))
}
