//go:build !hardware

package hwtest

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/tinyprof/tinyprof/device"
	"github.com/tinyprof/tinyprof/device/sim"
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

// buildBoards returns the simulated build's boards: the sim entries of the
// inventory cfg names, or, without one, SimBoardsPerPlatform tinyprof
// boards of each catalogue platform, named sim-PLATFORM-N, and
// SimEEMBCBoards eembc boards, named sim-eembc-N. The default inventory
// path is not read: a plain go test needs no lab configuration.
func buildBoards(cfg Config) ([]Entry, error) {
	if cfg.Inventory == "" {
		var boards []Entry
		for _, p := range platform.Names() {
			for i := 1; i <= SimBoardsPerPlatform; i++ {
				boards = append(boards, Entry{ID: fmt.Sprintf("sim-%s-%d", p, i), Platform: p,
					Protocol: ProtocolTinyprof, State: Good, Sim: true})
			}
		}
		for i := 1; i <= SimEEMBCBoards; i++ {
			boards = append(boards, Entry{ID: fmt.Sprintf("sim-eembc-%d", i), Platform: SimEEMBCPlatform,
				Protocol: ProtocolEEMBC, State: Good, Sim: true})
		}
		return boards, nil
	}
	inv, err := LoadInventory(cfg.Inventory)
	if err != nil {
		return nil, err
	}
	var boards []Entry
	for _, e := range inv.Boards {
		if e.Sim {
			boards = append(boards, e)
		}
	}
	if len(boards) == 0 && len(inv.Boards) > 0 {
		return nil, fmt.Errorf("inventory %s has no `sim: true` boards, and this build leases only simulated ones: run with -tags=hardware for real boards", cfg.Inventory)
	}
	return boards, nil
}

func defaultLeaseDir() (string, error) { return SimLeaseDir(), nil }

// defaultConnect starts a simulated board of e's platform behind a fresh
// pseudo-terminal and opens it through the real serial client. Each lease
// gets its own board: what processes share is the lease, not the board.
func defaultConnect(ctx context.Context, e Entry, opts device.Options) (*device.Device, func() error, error) {
	if !e.Sim {
		return nil, nil, errors.New("the simulated build cannot connect to a real board: run with -tags=hardware")
	}
	return ConnectSim(ctx, e, sim.Options{}, opts)
}
