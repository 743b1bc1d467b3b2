package hwtest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tinyprof/tinyprof/device"
	"github.com/tinyprof/tinyprof/device/eembc"
	"github.com/tinyprof/tinyprof/device/eembc/eembcsim"
	"github.com/tinyprof/tinyprof/serialport"
)

// EEMBCBoard is a leased MLPerf Tiny board, one whose inventory entry says
// `protocol: eembc`: an *eembc.Client over its serial port (its methods are
// promoted, so the board is passed to eembc.Run as b.Client), the entry it
// was leased as, and every line it printed since the lease began.
//
// A board from LeaseEEMBC is released by the test's cleanup; one from
// AcquireEEMBC must be released with Release. Do not use it after that.
// Like the Client, its methods must not be called concurrently.
type EEMBCBoard struct {
	*eembc.Client
	// Entry is the board's inventory entry.
	Entry Entry
	// Holder is the lease record written for this lease.
	Holder Holder
	// DUTName is the vendor the board named in m-name-dut-[…] during its
	// health check.
	DUTName string
	// DUTProfile is the firmware and model (kws01, vww01, ad01, ic01 or
	// strww01) it reported to profile% during its health check.
	DUTProfile eembc.Profile

	log     *boardLog
	release func() error
	recheck func() error
	once    sync.Once
	relErr  error
}

// Log returns every line the board printed, and the notes hwtest made,
// since the lease began, oldest first.
func (b *EEMBCBoard) Log() []device.LogLine { return b.log.snapshot() }

// Release closes the client and the port and ends the lease. It is safe to
// call more than once.
func (b *EEMBCBoard) Release() error {
	b.once.Do(func() { b.relErr = b.release() })
	return b.relErr
}

// EEMBCConnectFunc opens the serial line of the eembc board e describes.
// It returns the line and a function that closes everything it opened (for
// a simulated board, the DUT too).
type EEMBCConnectFunc func(ctx context.Context, e Entry) (io.ReadWriter, func() error, error)

// ConnectEEMBC opens the eembc board e describes, in either build: a
// simulated DUT (package eembcsim, see ConnectEEMBCSim) for a `sim: true`
// entry, otherwise e.Port or the port whose USB serial number is e.ID, at
// e.Baud (default 115200). It is Lab.ConnectEEMBC's default.
func ConnectEEMBC(ctx context.Context, e Entry) (io.ReadWriter, func() error, error) {
	if e.Sim {
		return ConnectEEMBCSim(ctx, e, eembcsim.Options{})
	}
	path, err := PortOf(e)
	if err != nil {
		return nil, nil, err
	}
	port, err := serialport.Open(ctx, path, e.Baud)
	if err != nil {
		return nil, nil, fmt.Errorf("open eembc board %s: %w", e.ID, err)
	}
	return port, port.Close, nil
}

// ConnectEEMBCSim starts a simulated DUT with so behind a fresh
// pseudo-terminal and opens it as a real board's port is opened. Each
// call starts its own DUT. It is exposed so that a test can build a Lab
// whose eembc boards misbehave (so.Silent).
func ConnectEEMBCSim(ctx context.Context, e Entry, so eembcsim.Options) (io.ReadWriter, func() error, error) {
	dut, err := eembcsim.Listen(so)
	if err != nil {
		return nil, nil, err
	}
	port, err := serialport.Open(ctx, dut.Path, e.Baud)
	if err != nil {
		dut.Close()
		return nil, nil, fmt.Errorf("open simulated eembc board %s: %w", e.ID, err)
	}
	return port, func() error { return errors.Join(port.Close(), dut.Close()) }, nil
}

// eembcSession is a session with a board running the EEMBC firmware.
type eembcSession struct {
	client  *eembc.Client
	closeFn func() error
	sim     bool
	name    string
	profile eembc.Profile
}

func (s *eembcSession) firmware() string { return s.profile.Firmware }
func (s *eembcSession) simulated() bool  { return s.sim }
func (s *eembcSession) probe(ctx context.Context) error {
	_, err := s.client.Name(ctx)
	return err
}
func (s *eembcSession) close() error {
	return errors.Join(s.client.Close(), s.closeFn())
}

// eembcCheck is the health check of an eembc board: connect, name%
// answered with m-name-dut-[…], profile% answered with the firmware and
// model, and the firmware against the entry's. The EnergyRunner protocol
// has no reset command, so a second attempt reconnects.
func (l *Lab) eembcCheck() checkFunc {
	connect := l.ConnectEEMBC
	if connect == nil {
		connect = ConnectEEMBC
	}
	opts := l.EEMBC
	if opts.Timeout <= 0 {
		opts.Timeout = l.Device.Timeout
	}
	return func(ctx context.Context, e Entry, log *boardLog, failed session) (session, error) {
		if failed != nil {
			failed.close()
		}
		rw, closeFn, err := connect(ctx, e)
		name := e.ID
		if n, ok := rw.(interface{ Name() string }); ok {
			name = n.Name()
		}
		l.recordConnect(ctx, e, name, err)
		if err != nil {
			return nil, fmt.Errorf("connect: %w", err)
		}
		s := &eembcSession{client: eembc.New(&lineLogger{rw: rw, log: log}, opts), closeFn: closeFn, sim: e.Sim}
		if s.name, err = s.client.Name(ctx); err != nil {
			return s, fmt.Errorf("name%%: %w", err)
		}
		if s.profile, err = s.client.Profile(ctx); err != nil {
			return s, fmt.Errorf("profile%%: %w", err)
		}
		if e.Firmware != "" && !strings.HasPrefix(s.profile.Firmware, e.Firmware) {
			return s, fmt.Errorf("board runs firmware %q, the inventory expects %q: reflash it", s.profile.Firmware, e.Firmware)
		}
		return s, nil
	}
}

// lineLogger copies every line read from rw into log, as the board's
// output, so that a failed test can show what the board printed.
type lineLogger struct {
	rw      io.ReadWriter
	log     *boardLog
	partial []byte // only the client's reading goroutine touches it
}

func (l *lineLogger) Write(p []byte) (int, error) { return l.rw.Write(p) }

func (l *lineLogger) Read(p []byte) (int, error) {
	n, err := l.rw.Read(p)
	for _, c := range p[:n] {
		switch {
		case c == '\n':
			l.log.add(device.LogLine{Time: time.Now(), Text: string(l.partial), Raw: true})
			l.partial = l.partial[:0]
		case c == '\r':
		case len(l.partial) < 4096:
			l.partial = append(l.partial, c)
		}
	}
	return n, err
}

// AcquireEEMBC leases one healthy eembc board matching cs for holder,
// waiting until ctx is done, as Acquire does for tinyprof boards: the
// same lease store, health records and quarantine. The caller must
// Release the board.
func (l *Lab) AcquireEEMBC(ctx context.Context, holder string, cs ...Constraint) (*EEMBCBoard, error) {
	cos, err := l.acquire(ctx, holder, 1, ProtocolEEMBC, cs)
	if err != nil {
		return nil, err
	}
	c := cos[0]
	s := c.sess.(*eembcSession)
	return &EEMBCBoard{Client: s.client, Entry: c.e, Holder: c.h, DUTName: s.name, DUTProfile: s.profile,
		log: c.log, release: c.release, recheck: c.recheck}, nil
}

// LeaseEEMBC is Lease for MLPerf Tiny boards: it returns an exclusive,
// healthy eembc board matching cs for the rest of the test, from the Lab
// the flags describe:
//
//	b := hwtest.LeaseEEMBC(t)
//	score, err := eembc.Run(t.Context(), b.Client, eembc.ScoreConfig{Inputs: inputs})
//
// Its health check sends name% and profile%; a board that fails twice is
// quarantined as a tinyprof board is. The board's id, platform, firmware
// (the profile string) and model are recorded with t.Attr. In the default
// build without an inventory the lab has the simulated boards
// sim-eembc-1 and sim-eembc-2 (see SimEEMBCBoards). Waiting, skipping and
// logs are as for Lease.
func LeaseEEMBC(tb testing.TB, cs ...Constraint) *EEMBCBoard {
	tb.Helper()
	return defaultLabFor(tb).LeaseEEMBC(tb, cs...)
}

// LeaseEEMBC is the package-level LeaseEEMBC on l.
func (l *Lab) LeaseEEMBC(tb testing.TB, cs ...Constraint) *EEMBCBoard {
	tb.Helper()
	ctx, cancel := l.waitContext(tb, time.Now())
	defer cancel()
	b, err := l.AcquireEEMBC(ctx, tb.Name(), cs...)
	if err != nil {
		l.Infrastructure(tb, err)
		return nil // Infrastructure stopped the test; reached only under a fake TB
	}
	tb.Attr("hwtest.board", b.Entry.ID)
	tb.Attr("hwtest.platform", b.Entry.Platform)
	tb.Attr("hwtest.firmware", strings.ReplaceAll(b.DUTProfile.Firmware, " ", "_"))
	tb.Attr("hwtest.model", b.DUTProfile.Model)
	tb.Cleanup(func() { l.finish(tb, b.Entry.ID, b.log, b.recheck, b.Release) })
	return b
}
