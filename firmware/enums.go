package firmware

import (
	"fmt"
	"strings"
)

// Capabilities is the bit set in Info.Capabilities: what a board can do and
// what kind of board it is. Test bits with the methods, not by hand.
type Capabilities uint16

// The capability bits.
const (
	CapPower  Capabilities = 1 << 0 // the board measures its own power (INA219/INA226) and reports it in Metrics
	CapCancel Capabilities = 1 << 1 // the board honours Cancel during a generation
	CapPSRAM  Capabilities = 1 << 2 // the board has external RAM in use
	// CapSimulated marks a simulated board: its timings and memory figures
	// are modelled, not measured, and every report must say so.
	CapSimulated Capabilities = 1 << 3
	// CapEmulated marks real firmware on an emulated machine (QEMU): its
	// tokens, instruction counts and memory figures are exact, its times
	// come from an instruction-count clock and are not cycle-accurate, and
	// every report must say so.
	CapEmulated Capabilities = 1 << 4
)

var capNames = []struct {
	bit  Capabilities
	name string
}{{CapPower, "power"}, {CapCancel, "cancel"}, {CapPSRAM, "psram"}, {CapSimulated, "simulated"}, {CapEmulated, "emulated"}}

// Has reports whether every bit of want is set.
func (c Capabilities) Has(want Capabilities) bool { return c&want == want }

// Power reports whether the board measures its own power.
func (c Capabilities) Power() bool { return c.Has(CapPower) }

// Cancel reports whether the board honours Cancel during a generation.
func (c Capabilities) Cancel() bool { return c.Has(CapCancel) }

// PSRAM reports whether the board has external RAM in use.
func (c Capabilities) PSRAM() bool { return c.Has(CapPSRAM) }

// Simulated reports whether the board is simulated: its figures are
// modelled, not measured.
func (c Capabilities) Simulated() bool { return c.Has(CapSimulated) }

// Emulated reports whether the board is real firmware on an emulator.
func (c Capabilities) Emulated() bool { return c.Has(CapEmulated) }

// String lists the set bits by name, e.g. "cancel|simulated"; unknown bits
// appear as hex.
func (c Capabilities) String() string {
	var parts []string
	rest := c
	for _, n := range capNames {
		if c&n.bit != 0 {
			parts = append(parts, n.name)
			rest &^= n.bit
		}
	}
	if rest != 0 {
		parts = append(parts, fmt.Sprintf("0x%x", uint16(rest)))
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, "|")
}

// Region is a board memory region, in ModelDone.Region. Its String is the
// lower-case name the benchmark configuration lines use ("weights-in: psram").
type Region uint8

// The memory regions.
const (
	RegionSRAM  Region = 1
	RegionPSRAM Region = 2
	RegionFlash Region = 3
)

// Valid reports whether r is one of the defined regions.
func (r Region) Valid() bool { return r >= RegionSRAM && r <= RegionFlash }

func (r Region) String() string {
	switch r {
	case RegionSRAM:
		return "sram"
	case RegionPSRAM:
		return "psram"
	case RegionFlash:
		return "flash"
	}
	return fmt.Sprintf("region %d", uint8(r))
}

// StopReason says why a generation stopped, in GenDone.Stop.
type StopReason uint8

// The stop reasons.
const (
	StopLength    StopReason = 0 // MaxTokens reached
	StopEOS       StopReason = 1 // the model produced end of sequence
	StopCancelled StopReason = 2 // the host sent Cancel
	StopContext   StopReason = 3 // the model's context (seq_len) is full
)

// Valid reports whether s is one of the defined stop reasons.
func (s StopReason) Valid() bool { return s <= StopContext }

func (s StopReason) String() string {
	switch s {
	case StopLength:
		return "length"
	case StopEOS:
		return "end of sequence"
	case StopCancelled:
		return "cancelled"
	case StopContext:
		return "context full"
	}
	return fmt.Sprintf("stop %d", uint8(s))
}

// LogLevel grades a Log line, as ESP-IDF's levels do.
type LogLevel uint8

// The log levels.
const (
	LevelError LogLevel = 1
	LevelWarn  LogLevel = 2
	LevelInfo  LogLevel = 3
	LevelDebug LogLevel = 4
)

// Valid reports whether l is one of the defined levels.
func (l LogLevel) Valid() bool { return l >= LevelError && l <= LevelDebug }

func (l LogLevel) String() string {
	switch l {
	case LevelError:
		return "E"
	case LevelWarn:
		return "W"
	case LevelInfo:
		return "I"
	case LevelDebug:
		return "D"
	}
	return fmt.Sprintf("level %d", uint8(l))
}
