//go:build !hardware

package hwtest

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/tinyprof/tinyprof/lab"
	"github.com/tinyprof/tinyprof/platform"
)

// Simulated reports whether this build serves leases with simulated
// boards: true in the default build, false with -tags=hardware.
const Simulated = true

// RequireHardware skips tb in the simulated build.
func RequireHardware(tb testing.TB) {
	tb.Helper()
	tb.Skip("hwtest: needs real boards: run with -tags=hardware")
}

// buildBoards returns the simulated build's boards: the sim and emulate
// entries of the inventory cfg names, or, without one, SimBoardsPerPlatform
// tinyprof boards of each catalogue platform that is not emulated, named
// sim-PLATFORM-N, SimEEMBCBoards eembc boards, named sim-eembc-N, and
// EmuBoardsPerMachine emulated boards of each emulated machine, named
// emu-MACHINE-N (see emulatedBoards). The default inventory path is not
// read: a plain go test needs no lab configuration.
func buildBoards(cfg Config) ([]lab.Entry, error) {
	if cfg.Inventory == "" {
		boards := emulatedBoards()
		for _, p := range platform.Names() {
			if pl, _ := platform.Lookup(p); pl.Emulated {
				continue
			}
			for i := 1; i <= SimBoardsPerPlatform; i++ {
				boards = append(boards, lab.Entry{ID: fmt.Sprintf("sim-%s-%d", p, i), Platform: p,
					Protocol: lab.ProtocolTinyprof, State: lab.Good, Sim: true})
			}
		}
		for i := 1; i <= SimEEMBCBoards; i++ {
			boards = append(boards, lab.Entry{ID: fmt.Sprintf("sim-eembc-%d", i), Platform: SimEEMBCPlatform,
				Protocol: lab.ProtocolEEMBC, State: lab.Good, Sim: true})
		}
		return boards, nil
	}
	inv, err := lab.LoadInventory(cfg.Inventory)
	if err != nil {
		return nil, err
	}
	var boards []lab.Entry
	emulated := 0
	for _, e := range inv.Boards {
		// Emulated entries only where QEMU can start them: a missing
		// emulator is the host's lack, not the board's fault to quarantine.
		k := e.Kind()
		if k == lab.KindEmulated {
			emulated++
		}
		if k == lab.KindSimulated || k == lab.KindEmulated && lab.EmulationAvailable() == nil {
			boards = append(boards, e)
		}
	}
	if len(boards) == 0 && emulated == 0 {
		return nil, fmt.Errorf("inventory %s has no `sim: true` boards (nor `emulate:` ones), and this build leases only simulated and emulated ones: run with -tags=hardware for real boards", cfg.Inventory)
	}
	return boards, nil
}

func defaultLeaseDir() (string, error) { return SimLeaseDir(), nil }

// connect is the simulated build's lab.ConnectFunc: lab.Connect, for
// simulated and emulated entries only. Each lease gets its own simulated
// or emulated board: what processes share is the lease, not the board.
func connect(ctx context.Context, e lab.Entry, opts lab.ConnectOptions) (*lab.Conn, error) {
	if k := e.Kind(); k != lab.KindSimulated && k != lab.KindEmulated {
		return nil, errors.New("the simulated build cannot connect to a real board: run with -tags=hardware")
	}
	return lab.Connect(ctx, e, opts)
}
