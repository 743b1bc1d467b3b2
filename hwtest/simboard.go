package hwtest

import (
	"context"
	"errors"
	"hash/fnv"

	"github.com/tinyprof/tinyprof/device"
	"github.com/tinyprof/tinyprof/device/sim"
)

// SimBoardsPerPlatform is how many simulated boards of each catalogue
// platform the simulated build offers when no inventory is given.
const SimBoardsPerPlatform = 4

// SimEEMBCBoards is how many simulated MLPerf Tiny boards (protocol eembc,
// served by package eembcsim) the simulated build offers when no inventory
// is given, named sim-eembc-1 onwards. Each models a kws01 DUT taking
// 16,760 µs per inference, like MLPerf Tiny v1.0's NUCLEO-H7A3ZI-Q result.
const SimEEMBCBoards = 2

// SimEEMBCPlatform is the platform of those boards: the catalogue's
// Cortex-M7 STM32H7, the family of the board the simulated DUT models.
const SimEEMBCPlatform = "stm32h7"

// ConnectSim starts a simulated board for e with so (its Platform and,
// if e sets one, Firmware taken from e; the seed from e.ID) and opens it.
// It is the simulated build's ConnectFunc, exposed so that a test can
// build a Lab whose boards misbehave (so.Faults).
func ConnectSim(ctx context.Context, e Entry, so sim.Options, opts device.Options) (*device.Device, func() error, error) {
	dev, _, closeFn, err := connectSim(ctx, e, so, opts)
	return dev, closeFn, err
}

// connectSim is ConnectSim that also returns the simulated board.
func connectSim(ctx context.Context, e Entry, so sim.Options, opts device.Options) (*device.Device, *sim.Board, func() error, error) {
	so.Platform = e.Platform
	if e.Firmware != "" {
		so.Firmware = e.Firmware
	}
	if so.Seed == 0 {
		h := fnv.New64a()
		h.Write([]byte(e.ID))
		so.Seed = h.Sum64() | 1
	}
	b, err := sim.Listen(so)
	if err != nil {
		return nil, nil, nil, err
	}
	dev, err := device.Open(ctx, b.Path, opts)
	if err != nil {
		b.Close()
		return nil, nil, nil, err
	}
	return dev, b, func() error {
		return errors.Join(dev.Close(), b.Close())
	}, nil
}
