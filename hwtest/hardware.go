//go:build hardware

package hwtest

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/tinyprof/tinyprof/device"
	"github.com/tinyprof/tinyprof/serialport"
)

// Simulated reports whether this build serves leases with simulated
// boards: true in the default build, false with -tags=hardware.
const Simulated = false

// RequireHardware skips tb in the simulated build; here it does nothing.
func RequireHardware(tb testing.TB) { tb.Helper() }

// buildBoards returns the real boards of the inventory: the one cfg names,
// else the one at DefaultInventoryPath. Simulated entries are left out.
func buildBoards(cfg Config) ([]Entry, error) {
	path := cfg.Inventory
	if path == "" {
		var err error
		if path, err = DefaultInventoryPath(); err != nil {
			return nil, err
		}
	}
	inv, err := LoadInventory(path)
	if err != nil {
		return nil, err
	}
	var boards []Entry
	for _, e := range inv.Boards {
		if !e.Sim {
			boards = append(boards, e)
		}
	}
	return boards, nil
}

func defaultLeaseDir() (string, error) { return DefaultLeaseDir() }

// defaultConnect opens e's serial port: e.Port if the inventory pins one,
// else the port whose USB serial number is e.ID, looked up now because
// /dev/ttyUSBn moves after a flash or a replug.
func defaultConnect(ctx context.Context, e Entry, opts device.Options) (*device.Device, func() error, error) {
	if e.Sim {
		return nil, nil, errors.New("the hardware build does not serve simulated boards")
	}
	path := e.Port
	if path == "" {
		p, err := serialport.FindBySerial(e.ID)
		if err != nil {
			return nil, nil, fmt.Errorf("find board %s: %w", e.ID, err)
		}
		path = p.Path
	}
	dev, err := device.Open(ctx, path, opts)
	if err != nil {
		return nil, nil, err
	}
	return dev, dev.Close, nil
}
