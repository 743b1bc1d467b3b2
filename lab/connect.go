package lab

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"os"
	"strings"
	"sync"

	"github.com/tinyprof/tinyprof/device"
	"github.com/tinyprof/tinyprof/device/emu"
	"github.com/tinyprof/tinyprof/device/sim"
	"github.com/tinyprof/tinyprof/platform"
	"github.com/tinyprof/tinyprof/serialport"
)

// Kind is what serves an inventory entry.
type Kind string

// The kinds of board. Connect has one case for each; a new kind is one
// more constant, one more case there, and the field of Conn that holds
// what serves it.
const (
	// KindReal is a board on a serial port: Entry.Port, or the port whose
	// USB serial number is Entry.ID.
	KindReal Kind = "real"
	// KindSimulated is a board of package device/sim behind a fresh
	// pseudo-terminal (`sim: true`), started by Connect.
	KindSimulated Kind = "simulated"
	// KindEmulated is tinyprof's firmware on a QEMU machine (package
	// device/emu) behind a fresh pseudo-terminal (`emulate: MACHINE`),
	// started by Connect: real firmware, instruction-count time.
	KindEmulated Kind = "emulated"
)

// Kind returns what serves the entry.
func (e Entry) Kind() Kind {
	if e.Emulate != "" {
		return KindEmulated
	}
	if e.Sim {
		return KindSimulated
	}
	return KindReal
}

// ConnectOptions configure Connect. The zero value is usable.
type ConnectOptions struct {
	// Device configures the connection. An entry's Baud, if set, replaces
	// Device.Baud.
	Device device.Options
	// Sim configures a simulated board, for faults and time scale: its
	// Platform, its Firmware (if the entry names one) and, if Sim.Seed is
	// zero and the entry has an id, its Seed (from the id, so that a board
	// behaves the same in every process) come from the entry.
	Sim sim.Options
	// Emu configures an emulated board; its Machine comes from the entry
	// and, if Emu.Seed is zero and the entry has an id, its Seed from the
	// id.
	Emu emu.Options
}

// Conn is an open connection to the board an entry describes: the
// connected Device, and what serves it when that is not a real board.
// Close it when done.
type Conn struct {
	// Device is the connected board; it has said Hello.
	Device *device.Device
	// Entry is the entry the connection was made for.
	Entry Entry
	// Sim is the simulated board behind a KindSimulated entry; nil
	// otherwise. Its power model drives simulated meters (see OpenMeter).
	Sim *sim.Board
	// Emu is the QEMU machine behind a KindEmulated entry; nil otherwise.
	// Figures from it carry Emu.Label().
	Emu *emu.Board

	close func() error
	once  sync.Once
	err   error
}

// Close closes the connection and stops what serves it (a simulated
// board, or QEMU for an emulated one). It is safe to call more than once.
func (c *Conn) Close() error {
	c.once.Do(func() { c.err = c.close() })
	return c.err
}

// Simulated reports whether the board's figures are modelled.
func (c *Conn) Simulated() bool { return c.Sim != nil }

// Emulated reports whether the board is real firmware on an emulated
// machine, whose times count instructions.
func (c *Conn) Emulated() bool { return c.Emu != nil }

// Label names the board for people: "ID (simulated)", "ID (emulated: QEMU
// M, …)", "ID on PORT", or the port alone for a board named by its path.
func (c *Conn) Label() string {
	if c.Emu != nil {
		id := c.Entry.ID
		if id == "" {
			id = c.Entry.Platform
		}
		return id + " (" + c.Emu.Label() + ")"
	}
	switch {
	case c.Entry.ID == "" && c.Sim != nil:
		return c.Entry.Platform + " (simulated)"
	case c.Entry.ID == "":
		return c.Device.Name()
	case c.Sim != nil:
		return c.Entry.ID + " (simulated)"
	}
	return c.Entry.ID + " on " + c.Device.Name()
}

// ConnectFunc is the signature of Connect, which a Lab calls to open its
// tinyprof boards; tests substitute one that injects faults.
type ConnectFunc func(ctx context.Context, e Entry, opts ConnectOptions) (*Conn, error)

// Connect opens the tinyprof board e describes and says Hello: for a real
// board, e.Port or the port whose USB serial number is e.ID, looked up now
// because /dev/ttyUSBn moves after a flash or a replug; for a simulated
// one, a new simulated board of e's platform behind a fresh pseudo-terminal,
// opened through the real serial client; for an emulated one, a new QEMU
// machine running tinyprof's firmware (emu.Listen), likewise behind a pty,
// stopped by Close. Each call starts its own simulated or emulated board:
// what processes share is the lease, not the board. Before its first frame
// to a real board, it makes sure the port has no EEMBC DUT on it (see
// refuseEEMBC), which costs about 0.7 s.
//
// It is the one way the CLI (--device, --sim, inventory ids), tests
// (through a Lab) and the lab's tools (health-check, emergency-reset) open
// a board. The caller must Close the Conn.
func Connect(ctx context.Context, e Entry, opts ConnectOptions) (*Conn, error) {
	if e.Baud > 0 {
		opts.Device.Baud = e.Baud
	}
	switch e.Kind() {
	case KindSimulated:
		return connectSim(ctx, e, opts)
	case KindEmulated:
		return connectEmu(ctx, e, opts)
	case KindReal:
		return connectPort(ctx, e, opts)
	}
	return nil, fmt.Errorf("board %s: no way to connect to a %s board", e.ID, e.Kind())
}

func connectPort(ctx context.Context, e Entry, opts ConnectOptions) (*Conn, error) {
	path, err := PortOf(e)
	if err != nil {
		return nil, err
	}
	if err := refuseEEMBC(ctx, e, path, opts.Device.Baud); err != nil {
		return nil, err
	}
	dev, err := device.Open(ctx, path, opts.Device)
	if err != nil {
		return nil, err
	}
	return &Conn{Device: dev, Entry: e, close: dev.Close}, nil
}

func connectSim(ctx context.Context, e Entry, opts ConnectOptions) (*Conn, error) {
	if p, err := platform.Lookup(e.Platform); err == nil && p.Emulated {
		return nil, fmt.Errorf("board %s: %s is an emulated machine, not a simulated platform: use `emulate: %s`", e.ID, p.Name, p.Name)
	}
	b, err := sim.Listen(SimOptions(e, opts.Sim))
	if err != nil {
		return nil, err
	}
	dev, err := device.Open(ctx, b.Path, opts.Device)
	if err != nil {
		b.Close()
		return nil, err
	}
	return &Conn{Device: dev, Entry: e, Sim: b, close: func() error {
		return errors.Join(dev.Close(), b.Close())
	}}, nil
}

// SimOptions returns the options of the simulated board that serves e:
// base with e's platform and firmware, and, unless base sets one, a seed
// drawn from e's id, so that the same entry is the same board wherever it
// is started — by Connect, or by an exporter serving it over the network.
func SimOptions(e Entry, base sim.Options) sim.Options {
	so := base
	so.Platform = e.Platform
	if e.Firmware != "" {
		so.Firmware = e.Firmware
	}
	if so.Seed == 0 && e.ID != "" {
		h := fnv.New64a()
		h.Write([]byte(e.ID))
		so.Seed = h.Sum64() | 1
	}
	return so
}

// PortOf returns the serial port of a real board: e.Port if the inventory
// pins one, else the port whose USB serial number is e.ID, looked up now.
// It is for tools that hand the port to another program (a vendor's
// flasher); to talk to the board, use Connect.
func PortOf(e Entry) (string, error) {
	if e.Kind() != KindReal {
		return "", fmt.Errorf("board %s is %s: it has no port until it is started", e.ID, e.Kind())
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

// ErrNoSuchBoard matches, with errors.Is, Resolve's error for a name that
// is neither a path nor an inventory id.
var ErrNoSuchBoard = errors.New("no such board")

// Resolve returns the entry spec names, as the CLI's --device takes it: a
// path (absolute, relative with a leading '.', or an existing file) is a
// real board on that port, with no id; anything else is an inventory id,
// looked up in the inventory at InventoryPath(inventory).
func Resolve(spec, inventory string) (Entry, error) {
	if isPath(spec) {
		return Entry{Port: spec, Protocol: ProtocolTinyprof, State: Good}, nil
	}
	invPath, err := InventoryPath(inventory)
	if err != nil {
		return Entry{}, err
	}
	inv, err := LoadInventory(invPath)
	if err != nil {
		return Entry{}, fmt.Errorf("%q is not a path, so it was taken as an inventory id: %w", spec, err)
	}
	e, ok := inv.Lookup(spec)
	if !ok {
		return Entry{}, &noSuchBoard{fmt.Sprintf("no port or inventory board named %q: give a port such as /dev/ttyUSB0 or an id listed in %s", spec, invPath)}
	}
	return e, nil
}

type noSuchBoard struct{ msg string }

func (e *noSuchBoard) Error() string        { return e.msg }
func (e *noSuchBoard) Is(target error) bool { return target == ErrNoSuchBoard }

// isPath reports whether spec names a file rather than an inventory id.
func isPath(spec string) bool {
	if strings.HasPrefix(spec, "/") || strings.HasPrefix(spec, ".") {
		return true
	}
	_, err := os.Stat(spec)
	return err == nil
}
