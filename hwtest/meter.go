package hwtest

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/tinyprof/tinyprof/device"
	"github.com/tinyprof/tinyprof/device/sim"
	"github.com/tinyprof/tinyprof/power"
	"github.com/tinyprof/tinyprof/power/lpm01a"
	"github.com/tinyprof/tinyprof/power/powersim"
	"github.com/tinyprof/tinyprof/power/ppk2"
	"github.com/tinyprof/tinyprof/serialport"
)

// ErrNoMeter matches, with errors.Is, the error OpenMeter returns for a
// board whose inventory entry binds no meter.
var ErrNoMeter = errors.New("no power meter bound to the board")

// connectDefault is the build's default ConnectFunc. For a simulated
// board it remembers the board behind the connection until it closes, so
// that Board.Meter can wire a simulated meter to it.
func (l *Lab) connectDefault(ctx context.Context, e Entry, opts device.Options) (*device.Device, func() error, error) {
	if !Simulated || !e.Sim {
		return defaultConnect(ctx, e, opts)
	}
	dev, b, closeFn, err := connectSim(ctx, e, sim.Options{}, opts)
	if err != nil {
		return nil, nil, err
	}
	l.sims.Store(dev, b)
	return dev, func() error {
		l.sims.Delete(dev)
		return closeFn()
	}, nil
}

// Sim returns the simulated board behind a leased sim entry, or nil for a
// real board (or a Lab whose Connect does not expose it). Tests use it
// to compare measurements with what the simulator modelled.
func (b *Board) Sim() *sim.Board { return b.sim }

// Meter opens the power meter the board's inventory entry binds (see
// MeterBinding) and closes it when the test ends. A simulated board gets
// a simulated meter of the entry's kind, speaking the real protocol
// behind a pty, driven by the board's modelled power and wired to its
// "generation active" GPIO; its figures are labelled simulated. A board
// with no meter bound fails the test; use OpenMeter to branch on
// ErrNoMeter instead.
func (b *Board) Meter(tb testing.TB) power.Meter {
	tb.Helper()
	m, closeFn, err := b.OpenMeter(tb.Context())
	if err != nil {
		tb.Fatalf("hwtest: %v", err)
	}
	tb.Cleanup(closeFn)
	return m
}

// OpenMeter is Meter for callers that are not tests: the caller must call
// the returned function to close the meter (and a simulated meter's pty).
func (b *Board) OpenMeter(ctx context.Context) (power.Meter, func(), error) {
	mb := b.Entry.Meter
	if mb == nil {
		return nil, nil, fmt.Errorf("board %s: %w: add `meter: {kind: ppk2, port: /dev/ttyACM1}` to its inventory entry", b.Entry.ID, ErrNoMeter)
	}
	if b.Entry.Sim {
		return b.openSimMeter(ctx, *mb)
	}
	port := mb.Port
	if port == "" {
		p, err := serialport.FindBySerial(mb.ID)
		if err != nil {
			return nil, nil, fmt.Errorf("board %s: find its %s meter %s: %w", b.Entry.ID, mb.Kind, mb.ID, err)
		}
		port = p.Path
	}
	m, err := OpenMeterAt(ctx, mb.Kind, port, power.Voltage(mb.Supply), false)
	if err != nil {
		return nil, nil, fmt.Errorf("board %s: %w", b.Entry.ID, err)
	}
	return m, func() { m.Close() }, nil
}

// OpenMeterAt opens a meter of kind ("ppk2" or "lpm01a") on port,
// sourcing supply (0 for the driver's default, 3.3 V).
func OpenMeterAt(ctx context.Context, kind, port string, supply power.Voltage, simulated bool) (power.Meter, error) {
	switch kind {
	case "ppk2":
		return ppk2.Open(ctx, port, ppk2.Options{Supply: supply, Simulated: simulated})
	case "lpm01a":
		return lpm01a.Open(ctx, port, lpm01a.Options{Supply: supply, Simulated: simulated})
	}
	return nil, fmt.Errorf("unknown meter kind %q: ppk2 or lpm01a", kind)
}

// SimMeter starts a simulated meter of kind wired to simulated board sb
// (its GPIO to PPK2 input D<bit>, or to the LPM01A's event input D7) and
// opens it. The returned function closes both the driver and the
// simulated meter.
func SimMeter(ctx context.Context, sb *sim.Board, kind string, bit uint) (power.Meter, func(), error) {
	pm, err := sb.PowerModel()
	if err != nil {
		return nil, nil, err
	}
	line := sim.LineLevel
	if kind == "lpm01a" {
		line, bit = sim.LinePulse, 0
	}
	wave, err := sb.Waveform(sim.WaveformOptions{Line: line, Bit: bit})
	if err != nil {
		return nil, nil, err
	}
	var path string
	var stop func()
	switch kind {
	case "ppk2":
		s, err := powersim.ListenPPK2(powersim.PPK2Options{Waveform: wave})
		if err != nil {
			return nil, nil, err
		}
		path, stop = s.Path, s.Close
	case "lpm01a":
		s, err := powersim.ListenLPM01A(powersim.LPM01AOptions{Waveform: wave})
		if err != nil {
			return nil, nil, err
		}
		path, stop = s.Path, s.Close
	default:
		return nil, nil, fmt.Errorf("unknown meter kind %q: ppk2 or lpm01a", kind)
	}
	m, err := OpenMeterAt(ctx, kind, path, pm.Supply, true)
	if err != nil {
		stop()
		return nil, nil, err
	}
	return m, func() { m.Close(); stop() }, nil
}

func (b *Board) openSimMeter(ctx context.Context, mb MeterBinding) (power.Meter, func(), error) {
	if b.sim == nil {
		return nil, nil, fmt.Errorf("board %s: its simulated meter needs the simulated board, which this Lab's Connect does not expose: leave Lab.Connect unset", b.Entry.ID)
	}
	m, closeFn, err := SimMeter(ctx, b.sim, mb.Kind, mb.LogicBit)
	if err != nil {
		return nil, nil, fmt.Errorf("board %s: simulated %s meter: %w", b.Entry.ID, mb.Kind, err)
	}
	return m, closeFn, nil
}
