//go:build !hardware

package hwtest

import (
	"fmt"
	"testing"

	"github.com/tinyprof/tinyprof/lab"
	"github.com/tinyprof/tinyprof/platform"
)

// emulatedBoards returns EmuBoardsPerMachine entries for each emulated
// machine, named emu-MACHINE-N, when this host can start them
// (lab.EmulationAvailable), and none otherwise: then a lease that asks for
// an emulated platform finds no board and is skipped as infrastructure, or
// failed under lab.EnvRequireEmulation=1 (see emulationMissing).
func emulatedBoards() []lab.Entry {
	if lab.EmulationAvailable() != nil {
		return nil
	}
	var boards []lab.Entry
	for _, m := range platform.Emulated() {
		for i := 1; i <= EmuBoardsPerMachine; i++ {
			boards = append(boards, lab.Entry{ID: fmt.Sprintf("emu-%s-%d", m, i), Platform: m, Emulate: m,
				Protocol: lab.ProtocolTinyprof, State: lab.Good})
		}
	}
	return boards
}

// emulationMissing stops tb when the board it failed to lease is an
// emulated machine this host cannot start: a skip naming the packages to
// install, or, under lab.EnvRequireEmulation=1 (CI), a failure. Otherwise
// it returns and the lease failure is reported as usual.
func (l *Lab) emulationMissing(tb testing.TB, cs []Constraint) {
	tb.Helper()
	r, err := l.withConfig(l.Lab, newRequest(lab.ProtocolTinyprof, cs))
	if err != nil || r.Platform == "" {
		return
	}
	if p, err := platform.Lookup(r.Platform); err != nil || !p.Emulated {
		return
	}
	lab.NeedEmulation(tb)
}
