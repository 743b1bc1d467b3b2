package lab

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/tinyprof/tinyprof/device"
	"github.com/tinyprof/tinyprof/device/eembc"
	"github.com/tinyprof/tinyprof/device/eembc/eembcsim"
	"github.com/tinyprof/tinyprof/serialport"
)

// EEMBCConnectFunc opens the serial line of the eembc board e describes.
// It returns the line and a function that closes everything it opened (for
// a simulated board, the DUT too).
type EEMBCConnectFunc func(ctx context.Context, e Entry) (io.ReadWriter, func() error, error)

// ConnectEEMBC opens the eembc board e describes, in either build: a
// simulated DUT (package eembcsim, see ConnectEEMBCSim) for a `sim: true`
// entry, otherwise e.Port or the port whose USB serial number is e.ID, at
// e.Baud (default 115200). It is Lab.ConnectEEMBC's default.
func ConnectEEMBC(ctx context.Context, e Entry) (io.ReadWriter, func() error, error) {
	switch e.Kind() {
	case KindSimulated:
		return ConnectEEMBCSim(ctx, e, eembcsim.Options{})
	case KindReal:
	default:
		return nil, nil, fmt.Errorf("board %s: no way to connect to a %s eembc board", e.ID, e.Kind())
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

// EEMBCBoardError is Connect's refusal of a board that eembc.Detect found
// to be an MLPerf Tiny DUT. It matches eembc.ErrIsEEMBC.
type EEMBCBoardError struct {
	Port     string // the board's port
	ID       string // its inventory id, "" for a board named by its port
	Evidence string // what it said, e.g. "m-name-dut-[vendor]"
}

func (e *EEMBCBoardError) Error() string {
	use := "use --protocol eembc (`tiny-profiler benchmark --protocol eembc --device " + e.Port + "`)"
	if e.ID != "" {
		use = "mark it `protocol: eembc` in the inventory, and use `tiny-profiler benchmark --protocol eembc --device " + e.ID + "`"
	}
	return fmt.Sprintf("%s runs the EEMBC EnergyRunner firmware (MLPerf Tiny), not the tinyprof agent: it said %q; nothing but name%% was sent to it, so its command buffer is clean: %s",
		e.Port, e.Evidence, use)
}

// Is makes an EEMBCBoardError match eembc.ErrIsEEMBC.
func (e *EEMBCBoardError) Is(target error) bool { return target == eembc.ErrIsEEMBC }

// refuseEEMBC returns an *EEMBCBoardError if the board on path is an
// EEMBC DUT, whose command buffer a single tinyprof frame would poison:
// its leading 0x00 crashes the reference firmware on its next command. A
// port it cannot open, or one where nothing decided, it leaves to
// device.Open, whose Hello reports it in the words every command uses.
func refuseEEMBC(ctx context.Context, e Entry, path string, baud int) error {
	port, err := serialport.OpenURL(ctx, path, baud)
	if err != nil {
		return nil
	}
	defer port.Close()
	d, err := eembc.Detect(ctx, port, eembc.DetectOptions{})
	if err != nil || d.Protocol != eembc.EEMBC {
		return nil
	}
	return &EEMBCBoardError{Port: path, ID: e.ID, Evidence: d.Evidence}
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
	return func(ctx context.Context, e Entry, log *Log, failed session) (session, error) {
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
	log     *Log
	partial []byte // only the client's reading goroutine touches it
}

func (l *lineLogger) Write(p []byte) (int, error) { return l.rw.Write(p) }

func (l *lineLogger) Read(p []byte) (int, error) {
	n, err := l.rw.Read(p)
	for _, c := range p[:n] {
		switch {
		case c == '\n':
			l.log.Add(device.LogLine{Time: time.Now(), Text: string(l.partial), Raw: true})
			l.partial = l.partial[:0]
		case c == '\r':
		case len(l.partial) < 4096:
			l.partial = append(l.partial, c)
		}
	}
	return n, err
}
