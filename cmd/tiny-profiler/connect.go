package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/tinyprof/tinyprof/device"
	"github.com/tinyprof/tinyprof/device/sim"
	"github.com/tinyprof/tinyprof/internal/atomicfile"
	"github.com/tinyprof/tinyprof/lab"
	"github.com/tinyprof/tinyprof/platform"
)

// target is the board a command talks to: a port path, an inventory id,
// a simulated platform, or an emulated machine.
type target struct {
	device    string
	sim       string
	emulate   string
	inventory string
	baud      int
	timeout   time.Duration
	simScale  float64
	cmd       *cobra.Command // for the state directory's leases
	// simBoard configures a --sim board's placement and clock (benchmark's
	// --weights-in, --ctx, --cpu-mhz, --cores, --plan); its TimeScale is
	// simScale.
	simBoard sim.Options
}

func (t *target) flags(c *cobra.Command) {
	t.cmd = c
	c.Flags().StringVar(&t.device, "device", "", "the board: a serial port (/dev/ttyUSB0, /dev/serial/by-id/…) or an inventory id")
	c.Flags().StringVar(&t.sim, "sim", "", "use a simulated board of this platform (figures are modelled, not measured)")
	c.Flags().StringVar(&t.emulate, "emulate", "", "use tinyprof's firmware on this QEMU machine: "+strings.Join(platform.Emulated(), ", ")+" (needs qemu-system-arm and arm-none-eabi-gcc; instruction-count time, not cycle-accurate)")
	c.Flags().StringVar(&t.inventory, "inventory", "", "inventory file for ids (default $TINYPROF_INVENTORY, else the config directory's)")
	c.Flags().IntVar(&t.baud, "baud", 115200, "serial line rate")
	c.Flags().DurationVar(&t.timeout, "timeout", 2*time.Second, "how long to wait for each answer from the board, the one resend after silence included")
	c.Flags().Float64Var(&t.simScale, "sim-time-scale", 0, "a simulated board takes this × its modelled time in real time (1: as a real board would; 0: as fast as the host can)")
}

func (t *target) check() error {
	named := 0
	for _, f := range []string{t.device, t.sim, t.emulate} {
		if f != "" {
			named++
		}
	}
	switch {
	case named > 1:
		return usageError{fmt.Errorf("--device, --sim and --emulate are exclusive: name one board")}
	case named == 0:
		return usageError{fmt.Errorf("name a board with --device PATH|ID, --sim PLATFORM for a simulated one, or --emulate MACHINE for an emulated one (see `tiny-profiler detect-devices`)")}
	case t.baud <= 0:
		return usageError{fmt.Errorf("--baud must be positive, got %d", t.baud)}
	case t.timeout <= 0:
		return usageError{fmt.Errorf("--timeout must be positive, got %v", t.timeout)}
	case t.simScale < 0 || t.simScale > 100:
		return usageError{fmt.Errorf("--sim-time-scale must be between 0 and 100, got %v", t.simScale)}
	}
	return nil
}

// entry returns the board the flags name: an inventory entry or a port
// for --device, a simulated board of the --sim platform, or an emulated
// --emulate machine.
func (t *target) entry() (lab.Entry, error) {
	if err := t.check(); err != nil {
		return lab.Entry{}, err
	}
	if t.emulate != "" {
		m, err := emulatedMachine(t.emulate, "--emulate")
		if err != nil {
			return lab.Entry{}, err
		}
		return lab.Entry{Platform: m, Emulate: m, Protocol: lab.ProtocolTinyprof, State: lab.Good}, nil
	}
	if t.sim != "" {
		p, err := platform.Lookup(t.sim)
		if err != nil {
			return lab.Entry{}, usageError{err}
		}
		if p.Emulated {
			return lab.Entry{}, usageError{fmt.Errorf("%s is an emulated machine, not a simulated platform: use --emulate %s", p.Name, p.Name)}
		}
		return lab.Entry{Platform: p.Name, Sim: true, Protocol: lab.ProtocolTinyprof, State: lab.Good}, nil
	}
	e, err := lab.Resolve(t.device, t.inventory)
	if errors.Is(err, lab.ErrNoSuchBoard) {
		return e, usageError{err}
	}
	return e, err
}

// connect opens the board the flags name and says Hello (lab.Connect).
// The caller must Close the connection.
func (t *target) connect(ctx context.Context, opts device.Options) (*lab.Conn, error) {
	e, err := t.entry()
	if err != nil {
		return nil, err
	}
	if err := t.checkLease(ctx, e); err != nil {
		return nil, err
	}
	opts.Baud, opts.Timeout = t.baud, attemptTimeout(t.timeout)
	so := t.simBoard
	so.TimeScale = t.simScale
	return lab.Connect(ctx, e, lab.ConnectOptions{Device: opts, Sim: so})
}

// checkLease fails with a *lab.HeldError naming the holder when someone
// else has leased inventory board e (hwtest, health-check): its port is
// then usually open in the holder's process, and "port busy" would not say
// who has it. A lease store that cannot be read is no holder.
func (t *target) checkLease(ctx context.Context, e lab.Entry) error {
	if e.ID == "" || t.cmd == nil {
		return nil
	}
	store, err := resetLeases(t.cmd, "")
	if err != nil {
		return nil
	}
	info, err := store.Inspect(ctx, e.ID)
	if err != nil || !info.Held {
		return nil
	}
	return &lab.HeldError{ID: e.ID, Holder: info.Holder}
}

// attemptTimeout is the device's wait for one attempt at a request, for a
// --timeout of d: half of it, because a request met with silence is sent
// once more, and --timeout is what a user waits for an answer in all.
func attemptTimeout(d time.Duration) time.Duration { return max(d/2, time.Millisecond) }

// open connects to the board and says Hello, for the operations commands
// that stream from it. label names it for output; closeFn releases it.
func (t *target) open(ctx context.Context, opts device.Options) (dev *device.Device, closeFn func() error, label string, err error) {
	conn, err := t.connect(ctx, opts)
	if err != nil {
		return nil, nil, "", err
	}
	return conn.Device, conn.Close, conn.Label(), nil
}

// writeJSON writes v as indented JSON.
func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// writeFileAtomic writes a result file so that a crash never leaves a
// partial one.
func writeFileAtomic(path string, write func(io.Writer) error) error {
	return atomicfile.Write(path, 0o644, write)
}

// progress draws a one-line progress indicator on stderr when stderr is a
// terminal, at most ten times a second, and nothing otherwise.
type progress struct {
	w    io.Writer
	on   bool
	mu   sync.Mutex
	last time.Time
	drew bool
}

func newProgress(w io.Writer) *progress {
	f, ok := w.(*os.File)
	return &progress{w: w, on: ok && term.IsTerminal(int(f.Fd()))}
}

func (p *progress) update(label string, done, total int64, unit string) {
	if !p.on {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if done < total && time.Since(p.last) < 100*time.Millisecond {
		return
	}
	p.last = time.Now()
	pct := 0.0
	if total > 0 {
		pct = float64(done) * 100 / float64(total)
	}
	fmt.Fprintf(p.w, "\r\033[K%s %5.1f%% (%d/%d %s)", label, pct, done, total, unit)
	p.drew = true
}

// done clears the progress line.
func (p *progress) done() {
	if !p.on {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.drew {
		fmt.Fprint(p.w, "\r\033[K")
		p.drew = false
	}
}
