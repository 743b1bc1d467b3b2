package emu

import (
	"fmt"
	"slices"
	"strings"
)

// Machine describes one emulated target: the QEMU machine and the firmware
// built for it. Its figures come from QEMU 7.2's model of the machine (the
// target's config.h under firmware/agent/boards cites where).
type Machine struct {
	// Name is the QEMU machine, e.g. "mps2-an386"; the firmware reports it
	// as its platform.
	Name string
	// Core is the emulated processor, e.g. "Cortex-M4F".
	Core string
	// ClockHz is the processor clock SysTick counts; under -icount shift=0
	// virtual time advances 1 ns per instruction whatever it is.
	ClockHz int
	// SRAM, PSRAM and Flash are the bytes the firmware reports in INFO.
	SRAM, PSRAM, Flash int

	cflags []string // -mcpu and floating-point flags
	driver string   // serial driver under boards/drivers
}

// Label is how every figure from this machine must be labelled.
func (m Machine) Label() string {
	return "emulated: QEMU " + m.Name + ", instruction-count time, not cycle-accurate"
}

// machines lists the targets; firmware/agent/boards/<Name> holds each one's
// config.h and link.ld.
var machines = []Machine{
	{Name: "mps2-an386", Core: "Cortex-M4F", ClockHz: 25_000_000, SRAM: 4 << 20, PSRAM: 16 << 20, Flash: 4 << 20,
		cflags: []string{"-mcpu=cortex-m4", "-mfloat-abi=hard", "-mfpu=fpv4-sp-d16"}, driver: "cmsdk_uart.c"},
	{Name: "mps2-an500", Core: "Cortex-M7", ClockHz: 25_000_000, SRAM: 4 << 20, PSRAM: 16 << 20, Flash: 4 << 20,
		cflags: []string{"-mcpu=cortex-m7", "-mfloat-abi=hard", "-mfpu=fpv5-d16"}, driver: "cmsdk_uart.c"},
	{Name: "mps2-an505", Core: "Cortex-M33", ClockHz: 20_000_000, SRAM: 4 << 20, PSRAM: 16 << 20, Flash: 4 << 20,
		cflags: []string{"-mcpu=cortex-m33", "-mfloat-abi=hard", "-mfpu=fpv5-sp-d16"}, driver: "cmsdk_uart.c"},
	{Name: "netduinoplus2", Core: "Cortex-M4F (STM32F405RG)", ClockHz: 168_000_000, SRAM: 192 << 10, PSRAM: 0, Flash: 1 << 20,
		cflags: []string{"-mcpu=cortex-m4", "-mfloat-abi=hard", "-mfpu=fpv4-sp-d16"}, driver: "stm32_usart.c"},
}

// Machines returns the emulated targets, in a stable order.
func Machines() []Machine { return slices.Clone(machines) }

// LookupMachine returns the target called name.
func LookupMachine(name string) (Machine, error) {
	for _, m := range machines {
		if m.Name == name {
			return m, nil
		}
	}
	names := make([]string, len(machines))
	for i, m := range machines {
		names[i] = m.Name
	}
	return Machine{}, fmt.Errorf("emu: no emulated machine %q; choose one of %s", name, strings.Join(names, ", "))
}
