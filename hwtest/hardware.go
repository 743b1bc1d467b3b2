//go:build hardware

package hwtest

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
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
// A hardware build with no inventory, or one without a real board, cannot
// run a single test: that is an error, so that the suite fails rather than
// skips.
func buildBoards(cfg Config) ([]lab.Entry, error) {
	path := cfg.Inventory
	if path == "" {
		var err error
		if path, err = lab.DefaultInventoryPath(); err != nil {
			return nil, err
		}
		if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("the hardware build leases the real boards of an inventory, and there is none: "+
				"no -hwtest.inventory or %s, and no %s (tiny-profiler detect-devices --write-inventory drafts one; "+
				"build without -tags=hardware for simulated boards)", EnvInventory, path)
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
	if len(boards) == 0 {
		return nil, fmt.Errorf("inventory %s lists no real boards (sim: true entries serve only the build without -tags=hardware)", path)
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
