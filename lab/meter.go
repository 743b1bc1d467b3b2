package lab

import (
	"context"
	"errors"
	"fmt"

	"github.com/tinyprof/tinyprof/device/sim"
	"github.com/tinyprof/tinyprof/power"
	"github.com/tinyprof/tinyprof/power/meters"
	"github.com/tinyprof/tinyprof/serialport"
)

// ErrNoMeter matches, with errors.Is, the error OpenMeter returns for a
// board whose inventory entry binds no meter.
var ErrNoMeter = errors.New("no power meter bound to the board")

// OpenMeter opens the power meter c's inventory entry binds (see
// MeterBinding). A simulated board gets a simulated meter of the binding's
// kind, speaking the real protocol behind a pty, driven by the board's
// modelled power and wired to its "generation active" GPIO (SimMeter); its
// figures are labelled simulated. A real board's meter is found by its
// port, or by its USB serial number now, since ports move after a replug.
// The caller must call the returned function to close the meter.
func OpenMeter(ctx context.Context, c *Conn) (power.Meter, func(), error) {
	e := c.Entry
	mb := e.Meter
	if mb == nil {
		return nil, nil, fmt.Errorf("board %s: %w: add `meter: {kind: ppk2, port: /dev/ttyACM1}` to its inventory entry", e.ID, ErrNoMeter)
	}
	switch e.Kind() {
	case KindSimulated:
		if c.Sim == nil {
			return nil, nil, fmt.Errorf("board %s: its simulated meter needs the simulated board, which this connection does not expose: connect with lab.Connect", e.ID)
		}
		m, closeFn, err := SimMeter(ctx, c.Sim, mb.Kind, mb.LogicBit)
		if err != nil {
			return nil, nil, fmt.Errorf("board %s: simulated %s meter: %w", e.ID, mb.Kind, err)
		}
		return m, closeFn, nil
	case KindReal:
	default:
		return nil, nil, fmt.Errorf("board %s: no meter can be wired to a %s board", e.ID, e.Kind())
	}
	port := mb.Port
	if port == "" {
		p, err := serialport.FindBySerial(mb.ID)
		if err != nil {
			return nil, nil, fmt.Errorf("board %s: find its %s meter %s: %w", e.ID, mb.Kind, mb.ID, err)
		}
		port = p.Path
	}
	m, err := meters.Open(ctx, mb.Kind, port, meters.Options{Supply: power.Voltage(mb.Supply)})
	if err != nil {
		return nil, nil, fmt.Errorf("board %s: %w", e.ID, err)
	}
	return m, func() { m.Close() }, nil
}

// SimMeter starts a simulated meter of kind wired to simulated board sb —
// its GPIO held high through each generation on logic input D<bit> of a
// meter with logic inputs (PPK2), or pulsed at each generation's edges on
// the event input of one without (LPM01A, D7; bit must then be 0) — and
// opens it, at the supply of the board's power model. The returned
// function closes both the driver and the simulated meter.
func SimMeter(ctx context.Context, sb *sim.Board, kind string, bit uint) (power.Meter, func(), error) {
	k, err := meters.Lookup(kind)
	if err != nil {
		return nil, nil, err
	}
	if err := k.CheckLogicBit(bit); err != nil {
		return nil, nil, err
	}
	pm, err := sb.PowerModel()
	if err != nil {
		return nil, nil, err
	}
	line := sim.LineLevel
	if k.LogicInputs == 0 {
		line = sim.LinePulse
	}
	wave, err := sb.Waveform(sim.WaveformOptions{Line: line, Bit: bit})
	if err != nil {
		return nil, nil, err
	}
	return k.OpenSimulated(ctx, wave, meters.Options{Supply: pm.Supply}, meters.SimOptions{})
}
