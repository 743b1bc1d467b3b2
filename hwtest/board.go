package hwtest

import (
	"context"
	"testing"

	"github.com/tinyprof/tinyprof/device"
	"github.com/tinyprof/tinyprof/device/emu"
	"github.com/tinyprof/tinyprof/device/sim"
	"github.com/tinyprof/tinyprof/lab"
	"github.com/tinyprof/tinyprof/power"
)

// Board is a leased board: a connected *device.Device (its methods are
// promoted, so a Board is used as a Device), the inventory entry it was
// leased as, and every line it printed since the lease began.
//
// A Board from Lease is released by the test's cleanup; one from Acquire
// must be released with Release. Do not use it after that.
type Board struct {
	*device.Device
	// Entry is the board's inventory entry.
	Entry lab.Entry
	// Holder is the lease record written for this lease.
	Holder lab.Holder

	lease *lab.Lease
	ctx   context.Context // see Context
}

// Context returns a context that ends when the test ends or when the
// board's lease is lost (a lab in etcd whose lease expired, or this host
// was cut off from etcd: see lab.Lease.Lost). Requests made with it stop
// at once when the board may have become someone else's.
func (b *Board) Context() context.Context {
	if b.ctx == nil {
		return context.Background()
	}
	return b.ctx
}

// Log returns every line the board printed, and the notes hwtest made
// (health checks, resets), since the lease began, oldest first. Unlike
// Device.Logs it is not a bounded ring: up to a million lines are kept.
func (b *Board) Log() []device.LogLine { return b.lease.Log.Lines() }

// Release closes the connection and ends the lease. It is safe to call
// more than once.
func (b *Board) Release() error { return b.lease.Release() }

// Sim returns the simulated board behind a leased sim entry, or nil for a
// real board. Tests use it to compare measurements with what the
// simulator modelled.
func (b *Board) Sim() *sim.Board { return b.lease.Conn.Sim }

// Emu returns the QEMU machine behind a leased emulated entry, or nil.
// Figures from it must carry its Label.
func (b *Board) Emu() *emu.Board { return b.lease.Conn.Emu }

// Meter opens the power meter the board's inventory entry binds (see
// lab.MeterBinding) and closes it when the test ends. A simulated board
// gets a simulated meter of the entry's kind, speaking the real protocol
// behind a pty, driven by the board's modelled power and wired to its
// "generation active" GPIO; its figures are labelled simulated. A board
// with no meter bound fails the test; use OpenMeter to branch on
// lab.ErrNoMeter instead.
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
// A board whose entry binds no meter yields an error matching
// lab.ErrNoMeter.
func (b *Board) OpenMeter(ctx context.Context) (power.Meter, func(), error) {
	return lab.OpenMeter(ctx, b.lease.Conn)
}
