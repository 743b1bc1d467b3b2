//go:build hardware

package hwtest

import (
	"context"
	"errors"
	"testing"

	"github.com/tinyprof/tinyprof/lab"
)

// Simulated reports whether this build serves leases with simulated
// boards: true in the default build, false with -tags=hardware.
const Simulated = false

// RequireHardware skips tb in the simulated build; here it does nothing.
func RequireHardware(tb testing.TB) { tb.Helper() }

// buildBoards returns the real boards of the inventory: the one cfg names,
// else the one at lab.DefaultInventoryPath. Simulated entries are left out.
func buildBoards(cfg Config) ([]lab.Entry, error) {
	path := cfg.Inventory
	if path == "" {
		var err error
		if path, err = lab.DefaultInventoryPath(); err != nil {
			return nil, err
		}
	}
	inv, err := lab.LoadInventory(path)
	if err != nil {
		return nil, err
	}
	var boards []lab.Entry
	for _, e := range inv.Boards {
		if e.Kind() == lab.KindReal {
			boards = append(boards, e)
		}
	}
	return boards, nil
}

func defaultLeaseDir() (string, error) { return lab.DefaultLeaseDir() }

// connect is the hardware build's lab.ConnectFunc: lab.Connect, for real
// boards only.
func connect(ctx context.Context, e lab.Entry, opts lab.ConnectOptions) (*lab.Conn, error) {
	if e.Kind() != lab.KindReal {
		return nil, errors.New("the hardware build does not serve simulated boards")
	}
	return lab.Connect(ctx, e, opts)
}

// emulationMissing does nothing: the hardware build leases no emulated
// boards.
func (l *Lab) emulationMissing(testing.TB, []Constraint) {}

// emulatedBoards is none: the hardware build leases only real boards.
func emulatedBoards() []lab.Entry { return nil }
