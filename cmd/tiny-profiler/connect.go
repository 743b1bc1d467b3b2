package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/tinyprof/tinyprof/device"
	"github.com/tinyprof/tinyprof/device/sim"
	"github.com/tinyprof/tinyprof/hwtest"
	"github.com/tinyprof/tinyprof/internal/atomicfile"
)

// target is the board a command talks to: a port path, an inventory id,
// or a simulated platform.
type target struct {
	device    string
	sim       string
	inventory string
	baud      int
	timeout   time.Duration
	simScale  float64
}

func (t *target) flags(c *cobra.Command) {
	c.Flags().StringVar(&t.device, "device", "", "the board: a serial port (/dev/ttyUSB0, /dev/serial/by-id/…) or an inventory id")
	c.Flags().StringVar(&t.sim, "sim", "", "use a simulated board of this platform (figures are modelled, not measured)")
	c.Flags().StringVar(&t.inventory, "inventory", "", "inventory file for ids (default $TINYPROF_INVENTORY, else the config directory's)")
	c.Flags().IntVar(&t.baud, "baud", 115200, "serial line rate")
	c.Flags().DurationVar(&t.timeout, "timeout", 2*time.Second, "how long to wait for each answer from the board")
	c.Flags().Float64Var(&t.simScale, "sim-time-scale", 0, "a simulated board takes this × its modelled time in real time (1: as a real board would; 0: as fast as the host can)")
}

func (t *target) check() error {
	switch {
	case t.device != "" && t.sim != "":
		return usageError{fmt.Errorf("--device and --sim are exclusive: name one board")}
	case t.device == "" && t.sim == "":
		return usageError{fmt.Errorf("name a board with --device PATH|ID, or --sim PLATFORM for a simulated one (see `tiny-profiler detect-devices`)")}
	case t.baud <= 0:
		return usageError{fmt.Errorf("--baud must be positive, got %d", t.baud)}
	case t.timeout <= 0:
		return usageError{fmt.Errorf("--timeout must be positive, got %v", t.timeout)}
	case t.simScale < 0 || t.simScale > 100:
		return usageError{fmt.Errorf("--sim-time-scale must be between 0 and 100, got %v", t.simScale)}
	}
	return nil
}

// connection is an open board, simulated or real.
type connection struct {
	dev   *device.Device
	board *sim.Board    // nil for a real board
	entry *hwtest.Entry // the inventory entry --device named, if any
}

func (c *connection) Close() {
	c.dev.Close()
	if c.board != nil {
		c.board.Close()
	}
}

// connect opens the board and says Hello.
func (t *target) connect(ctx context.Context, opts device.Options) (*connection, error) {
	if err := t.check(); err != nil {
		return nil, err
	}
	opts.Baud, opts.Timeout = t.baud, t.timeout
	conn := &connection{}
	path, simPlatform := t.device, t.sim
	if t.device != "" {
		// --device is a port path or an inventory id (a USB serial number).
		p, entry, err := resolve(t.device, t.inventory)
		if err != nil {
			return nil, err
		}
		path, conn.entry = p, entry
		if entry != nil && entry.Sim {
			simPlatform = entry.Platform
		}
	}
	if simPlatform != "" {
		b, err := sim.Listen(sim.Options{Platform: simPlatform, TimeScale: t.simScale})
		if err != nil {
			return nil, usageError{err}
		}
		conn.board, path = b, b.Path
	}
	d, err := device.Open(ctx, path, opts)
	if err != nil {
		if conn.board != nil {
			conn.board.Close()
		}
		return nil, err
	}
	conn.dev = d
	return conn, nil
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
