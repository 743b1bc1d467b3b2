package hwtest

import (
	"context"
	"fmt"

	"github.com/tinyprof/tinyprof/device"
	"github.com/tinyprof/tinyprof/device/sim"
	"github.com/tinyprof/tinyprof/serialport"
)

// ConnectEntry opens the board e describes in either build: a simulated
// board for a `sim: true` entry (see ConnectSim), otherwise e.Port or the
// port whose USB serial number is e.ID, looked up now because /dev/ttyUSBn
// moves after a flash or a replug. Tools that serve a whole inventory
// (`tiny-profiler health-check`, `emergency-reset`) use it as their
// ConnectFunc.
func ConnectEntry(ctx context.Context, e Entry, opts device.Options) (*device.Device, func() error, error) {
	if e.Sim {
		return ConnectSim(ctx, e, sim.Options{}, opts)
	}
	path, err := PortOf(e)
	if err != nil {
		return nil, nil, err
	}
	dev, err := device.Open(ctx, path, opts)
	if err != nil {
		return nil, nil, err
	}
	return dev, dev.Close, nil
}

// PortOf returns the serial port of a real board: e.Port if the inventory
// pins one, else the port whose USB serial number is e.ID.
func PortOf(e Entry) (string, error) {
	if e.Sim {
		return "", fmt.Errorf("board %s is simulated: it has no port until it is started", e.ID)
	}
	if e.Port != "" {
		return e.Port, nil
	}
	p, err := serialport.FindBySerial(e.ID)
	if err != nil {
		return "", fmt.Errorf("find board %s: %w", e.ID, err)
	}
	return p.Path, nil
}
