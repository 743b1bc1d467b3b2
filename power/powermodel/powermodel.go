// Package powermodel models the power a board draws from what it is doing,
// for the simulated board: idle, active cores at a clock frequency, and
// PSRAM and flash reads. Its figures are modelled, not measured; each one
// says where it comes from, and the ones that are estimates say so.
//
// Board is a pure function of the platform, and Model.Power of the
// activity, so that the simulated board can call them on its virtual clock.
package powermodel

import (
	"fmt"

	"github.com/tinyprof/tinyprof/platform"
	"github.com/tinyprof/tinyprof/power"
)

// Activity is what a board does over an interval.
type Activity struct {
	// Cores is how many cores are computing (0: all idle).
	Cores int
	// MHz is the CPU clock; 0 means the platform's maximum.
	MHz int
	// PSRAMBytesPerSec and FlashBytesPerSec are the read rates from
	// PSRAM and from flash (weights streamed through the cache).
	PSRAMBytesPerSec, FlashBytesPerSec float64
}

// Figure is one number of a model and its provenance.
type Figure struct {
	Name   string `json:"name"`
	Value  string `json:"value"`
	Source string `json:"source"`
	// Estimate is set when the figure is not read from a datasheet or a
	// measurement but derived or assumed; Source says how.
	Estimate bool `json:"estimate,omitempty"`
}

// Model is a board's power model.
type Model struct {
	Platform string
	// Supply is the voltage the currents are drawn at.
	Supply power.Voltage
	// Idle is the board's current with every core idle and the radio off.
	Idle power.Current
	// PerCoreMHz is the extra current of one computing core per MHz.
	PerCoreMHz power.Current
	// PSRAM and Flash are the extra currents when reading each at its full
	// modelled bandwidth (platform.Bandwidths), scaled linearly below it.
	PSRAM, Flash power.Current
	// Figures lists every number with its source.
	Figures []Figure

	cores, maxMHz int
	bw            platform.Bandwidths
}

// Board returns the power model of platform p. It fails with
// power.ErrNoModel for a platform without cited figures rather than
// inventing them.
func Board(p platform.Platform) (Model, error) {
	switch p.Name {
	case "esp32s3":
		return esp32s3(p), nil
	case "esp32":
		return esp32(p), nil
	}
	return Model{}, &power.Error{Op: "power model", Code: power.CodeNoModel,
		Err:  fmt.Errorf("no cited power figures for platform %q", p.Name),
		Hint: "bind a power meter to the board, or add the platform's datasheet current table to power/powermodel"}
}

func esp32s3(p platform.Platform) Model {
	return Model{
		Platform: p.Name, Supply: 3.3, cores: p.Cores, maxMHz: p.CPUMHz, bw: p.Bandwidth,
		Idle:       31.7 * power.Milliampere,
		PerCoreMHz: 0.05 * power.Milliampere,
		PSRAM:      20 * power.Milliampere,
		Flash:      15 * power.Milliampere,
		Figures: []Figure{
			{"supply", "3.3V", "Espressif datasheets measure current tables with a 3.3 V supply at 25 °C (e.g. ESP32-S2-WROOM Datasheet v1.1 §4.4)", false},
			{"idle", "31.7mA", "ESP32-S3-DevKitM-1 awake, measured at 3.3 V (lucidar.me, \"Power consumption of ESP32-S3-DevKitM-1\"); 32.3 mA on an ESP32-S3-DevKitC with no code running (ComNets-Bremen/WUSN MoleNet V6 power table)", false},
			{"per core per MHz", "0.05mA", "slope of the Xtensa LX7 ESP32-S2's Modem-sleep currents, 22 mA at 240 MHz and 14 mA at 80 MHz (ESP32-S2-WROOM Datasheet v1.1 Table 8), applied per computing core of the ESP32-S3's two LX7 cores", true},
			{"psram", "20mA at full bandwidth", "assumed: tens of mA for an octal PSRAM streaming reads; not from a datasheet here", true},
			{"flash", "15mA at full bandwidth", "assumed: quad/octal SPI flash read current of the order of 10–20 mA; not from a datasheet here", true},
		},
	}
}

// esp32 reads the ESP32 Series Datasheet v3.5, Table 6 "Power Consumption
// by Power Modes", Modem-sleep (CPU on, radio off): 30–68 mA for dual-core
// chips at 240 MHz, 27–44 mA at 160 MHz.
func esp32(p platform.Platform) Model {
	return Model{
		Platform: p.Name, Supply: 3.3, cores: p.Cores, maxMHz: p.CPUMHz, bw: p.Bandwidth,
		Idle:       30 * power.Milliampere,
		PerCoreMHz: power.Current((68.0-30.0)/(2*240)) * power.Milliampere,
		PSRAM:      20 * power.Milliampere,
		Flash:      15 * power.Milliampere,
		Figures: []Figure{
			{"supply", "3.3V", "ESP32 Series Datasheet v3.5 §5 (current tables at VDD 3.3 V, 25 °C)", false},
			{"idle", "30mA", "ESP32 Series Datasheet v3.5 Table 6, Modem-sleep at 240 MHz, dual-core: 30 mA ~ 68 mA; the lower end taken as both cores idle", true},
			{"per core per MHz", "0.0792mA", "the same row's span, (68 − 30) mA over two cores at 240 MHz", true},
			{"psram", "20mA at full bandwidth", "assumed, as for the ESP32-S3: tens of mA for a quad PSRAM streaming reads; not from a datasheet here", true},
			{"flash", "15mA at full bandwidth", "assumed, as for the ESP32-S3: SPI flash read current of the order of 10–20 mA; not from a datasheet here", true},
		},
	}
}

// Current returns the modelled current for activity a. Core counts and
// rates are clamped to what the board has.
func (m Model) Current(a Activity) power.Current {
	mhz := a.MHz
	if mhz <= 0 || mhz > m.maxMHz {
		mhz = m.maxMHz
	}
	cores := min(max(a.Cores, 0), m.cores)
	i := m.Idle + power.Current(float64(cores*mhz))*m.PerCoreMHz
	if m.bw.PSRAM > 0 {
		i += m.PSRAM * power.Current(min(max(a.PSRAMBytesPerSec, 0)/m.bw.PSRAM, 1))
	}
	if m.bw.Flash > 0 {
		i += m.Flash * power.Current(min(max(a.FlashBytesPerSec, 0)/m.bw.Flash, 1))
	}
	return i
}

// Power returns the modelled power for activity a.
func (m Model) Power(a Activity) power.Power { return m.Current(a).Times(m.Supply) }
