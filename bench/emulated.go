package bench

import (
	"github.com/tinyprof/tinyprof/device/emu"
	"github.com/tinyprof/tinyprof/firmware"
	"github.com/tinyprof/tinyprof/platform"
)

// Emulated reports whether info is a board running tinyprof's firmware on
// an emulated machine (QEMU, package device/emu): one whose INFO carries
// firmware.CapEmulated, or, from firmware that predates that bit, whose
// platform is one of the catalogue's emulated machines.
func Emulated(info *firmware.Info) bool {
	if info == nil {
		return false
	}
	if info.Capabilities.Emulated() {
		return true
	}
	p, err := platform.Lookup(info.Platform)
	return err == nil && p.Emulated
}

// EmulatedLabel is how every figure from an emulated board must be
// labelled, "emulated: QEMU M, instruction-count time, not
// cycle-accurate" (emu.Machine.Label), or "" when info is not an emulated
// board.
func EmulatedLabel(info *firmware.Info) string {
	if !Emulated(info) {
		return ""
	}
	if m, err := emu.LookupMachine(info.Platform); err == nil {
		return m.Label()
	}
	return "emulated: QEMU " + info.Platform + ", instruction-count time, not cycle-accurate"
}

// emulatedConfig is the value of the emulated configuration line: the
// label without its "emulated: " prefix, so that the line reads as the
// label does, or "false".
func emulatedConfig(info *firmware.Info) string {
	if l := EmulatedLabel(info); l != "" {
		return l[len("emulated: "):]
	}
	return "false"
}

// EmulatedConfig is the value of the emulated configuration line for
// info, as Generate writes it: "QEMU M, instruction-count time, not
// cycle-accurate" for an emulated board, "false" otherwise.
func EmulatedConfig(info *firmware.Info) string { return emulatedConfig(info) }

// InstructionsPerToken converts an emulated board's decode time to guest
// instructions per token.
//
// An emulated board runs under QEMU's -icount shift=0: virtual time
// advances 2^0 = 1 ns per guest instruction, and the firmware's clock
// reads virtual time, stopped while the core sleeps. So a span the board
// reports in microseconds is that many thousand instructions it executed:
// instructions = board-clock ns. The count is exact and the same in every
// run, to the microsecond the protocol carries (1000 instructions), which
// the mean over many tokens makes small. It is not a cycle count of real
// silicon: QEMU charges every instruction alike, whatever its latency, and
// models no caches, wait states or pipeline.
func InstructionsPerToken(decodeUS uint64, tokens int) float64 {
	if tokens <= 0 {
		return 0
	}
	return float64(decodeUS) * 1e3 / float64(tokens)
}
