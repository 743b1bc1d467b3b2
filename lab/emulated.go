package lab

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"os"
	"os/exec"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/tinyprof/tinyprof/device"
	"github.com/tinyprof/tinyprof/device/emu"
)

// EnvRequireEmulation names the environment variable that, set to 1, makes
// a missing qemu-system-arm or arm-none-eabi-gcc fail what needs an
// emulated board instead of skipping it. CI sets it, so that a runner that
// lost the packages cannot pass by skipping every emulated test.
const EnvRequireEmulation = "TINYPROF_REQUIRE_EMULATION"

// RequireEmulation reports whether EnvRequireEmulation is set to 1.
func RequireEmulation() bool { return os.Getenv(EnvRequireEmulation) == "1" }

// emulationTools are the programs an emulated board needs and the Debian
// packages that install them.
var emulationTools = []struct{ bin, pkg string }{
	{"qemu-system-arm", "qemu-system-arm"},
	{"arm-none-eabi-gcc", "gcc-arm-none-eabi libnewlib-arm-none-eabi"},
}

// EmulationAvailable reports, as nil, that this host can start emulated
// boards: qemu-system-arm and arm-none-eabi-gcc are on the PATH. Otherwise
// its error matches emu.ErrToolMissing and names the Debian packages to
// install.
func EmulationAvailable() error {
	for _, t := range emulationTools {
		if _, err := exec.LookPath(t.bin); err != nil {
			return fmt.Errorf("emulated boards need %s: %w (apt-get install --no-install-recommends %s)", t.bin, emu.ErrToolMissing, t.pkg)
		}
	}
	return nil
}

// emulated checks an entry's `emulate:` key: a known machine, its
// platform, and no `sim: true` beside it.
func (p *parser) emulated(n *yaml.Node, e *Entry) {
	m, err := emu.LookupMachine(e.Emulate)
	if err != nil {
		p.errorf(lineOf(n, "emulate"), "board %q: %v", e.ID, err)
		return
	}
	switch {
	case e.Protocol == ProtocolEEMBC:
		p.errorf(lineOf(n, "protocol"), "board %q: an emulated board runs the tinyprof agent; drop `protocol: eembc`", e.ID)
	case e.Meter != nil:
		p.errorf(lineOf(n, "meter"), "board %q: an emulated board draws no power to meter; drop `meter:`", e.ID)
	}
	switch {
	case e.Sim:
		p.errorf(lineOf(n, "sim"), "board %q: a board is simulated (`sim: true`) or emulated (`emulate: %s`), not both", e.ID, m.Name)
	case e.Platform == "":
		e.Platform = m.Name
	case e.Platform != m.Name:
		p.errorf(lineOf(n, "platform"), "board %q: an emulated %s is platform %s, not %q; drop `platform:`", e.ID, m.Name, m.Name, e.Platform)
	}
}

// connectEmu starts the QEMU machine e names (emu.Listen: the firmware is
// built on first use) and connects to its pty through the real serial
// client. The transport's hard reset is a machine reset. Closing the Conn
// stops QEMU.
// EmuOptions returns the options of the QEMU machine that serves the
// emulated entry e: base with e's machine and, unless base sets one, a
// seed drawn from e's id, so that the same entry is the same board
// wherever it is started — by Connect, or by an exporter serving it over
// the network.
func EmuOptions(e Entry, base emu.Options) emu.Options {
	eo := base
	eo.Machine = e.Emulate
	if eo.Seed == 0 && e.ID != "" {
		h := fnv.New32a()
		h.Write([]byte(e.ID))
		eo.Seed = h.Sum32() | 1
	}
	return eo
}

func connectEmu(ctx context.Context, e Entry, opts ConnectOptions) (*Conn, error) {
	eo := EmuOptions(e, opts.Emu)
	name := e.ID
	if name == "" {
		name = "emulated " + e.Emulate
	}
	b, err := emu.Listen(ctx, eo)
	if err != nil {
		return nil, fmt.Errorf("board %s: %w", name, err)
	}
	port, err := b.Open(ctx)
	if err != nil {
		b.Close()
		return nil, fmt.Errorf("board %s: open %s: %w", name, b.Path, err)
	}
	dev := device.New(port, opts.Device)
	if _, err := dev.Hello(ctx); err != nil {
		return nil, errors.Join(fmt.Errorf("board %s (%s): %w", name, b.Label(), err), dev.Close(), b.Close())
	}
	return &Conn{Device: dev, Entry: e, Emu: b, close: func() error {
		return errors.Join(dev.Close(), b.Close())
	}}, nil
}

// NeedEmulation stops tb unless this host can start emulated boards (see
// EmulationAvailable): it skips, naming the packages to install, or, when
// EnvRequireEmulation is 1 (as in CI), fails.
func NeedEmulation(tb testing.TB) {
	tb.Helper()
	err := EmulationAvailable()
	switch {
	case err == nil:
	case RequireEmulation():
		tb.Fatal(fmt.Sprintf("%v; %s=1 requires emulated boards", err, EnvRequireEmulation))
	default:
		tb.Skip(fmt.Sprintf("%v (set %s=1 to fail instead of skipping)", err, EnvRequireEmulation))
	}
}
