// Package emu runs real tinyprof firmware — the C agent of firmware/agent
// with the inference runtime of firmware/runtime, built from this
// repository for a Cortex-M target — on a machine emulated
// by QEMU (Debian's qemu-system-arm), behind a real pseudo-terminal, in the
// manner of device/sim.
//
// Start builds the firmware on first use with arm-none-eabi-gcc into a
// content-addressed cache, starts QEMU with the board's UART on a pty and
// returns the board; its Path (/dev/pts/N) is opened by the real serial
// client. QEMU runs with -icount shift=0,sleep=off: virtual time advances
// 1 ns per guest instruction, so every time the firmware reports is an
// exact instruction count and the same in every run, but not a cycle count
// of real silicon. Every figure from an emulated board must carry
// Machine.Label.
//
// QEMU's monitor (QMP) gives the board a hard reset (system_reset), which
// Board.Open offers as the transport's device.HardResetter, and pause,
// resume and kill for fault tests.
package emu

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/tinyprof/tinyprof/firmware"
	"github.com/tinyprof/tinyprof/serialport"
)

// Options configures an emulated board. The zero value is an mps2-an386.
type Options struct {
	// Machine is the QEMU machine; see Machines. Default "mps2-an386".
	Machine string
	// Build configures the firmware build. Default: the standard image.
	Build BuildOptions
	// Seed is the entropy the firmware mixes into its boot ids (QEMU
	// writes it into RAM before every boot). Default: random.
	Seed uint32
	// QEMU is the emulator binary. Default "qemu-system-arm".
	QEMU string
	// StartTimeout bounds building and booting. Default 60 s.
	StartTimeout time.Duration
}

// Board is a running emulated board. Close it when done (Start does it for
// you). Its methods may be called from several goroutines.
type Board struct {
	// Path is the pseudo-terminal QEMU connected the board's UART to.
	Path string
	// Machine is the emulated target.
	Machine Machine
	// Firmware is the image it runs.
	Firmware *Firmware
	// Icount is QEMU's -icount setting: shift 0 is 1 ns per instruction.
	Icount string

	cmd    *exec.Cmd
	cancel context.CancelFunc // kills QEMU
	exited chan struct{}      // closed when QEMU has exited
	stderr *tail
	qmp    *qmp
	dir    string   // QMP socket directory
	hold   *os.File // the pty's slave, held open; see boot

	closeOnce sync.Once
	closeErr  error
}

const icount = "shift=0,sleep=off"

// ptyLine is how QEMU announces the pty it opened for the UART.
var ptyLine = regexp.MustCompile(`char device redirected to (/dev/pts/\d+)`)

// Listen builds the firmware if needed, starts QEMU and waits for it to
// announce its pty. The caller must call Close. ctx bounds the start only;
// the board runs until Close. It is the non-test form of Start, used by
// the CLI. A missing compiler or emulator is reported as ErrToolMissing
// with the Debian package to install.
func Listen(ctx context.Context, opts Options) (*Board, error) {
	if opts.Machine == "" {
		opts.Machine = "mps2-an386"
	}
	if opts.QEMU == "" {
		opts.QEMU = "qemu-system-arm"
	}
	if opts.StartTimeout <= 0 {
		opts.StartTimeout = 60 * time.Second
	}
	if opts.Seed == 0 {
		var b [4]byte
		_, _ = rand.Read(b[:])
		opts.Seed = binary.LittleEndian.Uint32(b[:]) | 1
	}
	ctx, cancelStart := context.WithTimeout(ctx, opts.StartTimeout)
	defer cancelStart()

	m, err := LookupMachine(opts.Machine)
	if err != nil {
		return nil, err
	}
	qemu, err := exec.LookPath(opts.QEMU)
	if err != nil {
		return nil, fmt.Errorf("emu: %s not found: %w (apt-get install qemu-system-arm)", opts.QEMU, ErrToolMissing)
	}
	fw, err := Build(ctx, m.Name, opts.Build)
	if err != nil {
		return nil, err
	}
	// A short directory: Unix socket paths are limited to 108 bytes.
	dir, err := os.MkdirTemp("", "tinyprof-qmp-")
	if err != nil {
		return nil, fmt.Errorf("emu: %w", err)
	}
	sock := filepath.Join(dir, "qmp")
	args := []string{
		// -S: the processor waits for boot() to hold the pty, so that the
		// boot announcement is not lost.
		"-M", m.Name, "-S", "-nographic", "-monitor", "none", "-serial", "pty",
		"-icount", icount,
		"-qmp", "unix:" + sock + ",server=on,wait=off",
		"-device", fmt.Sprintf("loader,addr=%#x,data=%#x,data-len=4", fw.seedAddr, opts.Seed),
		"-kernel", fw.ELF,
	}
	runCtx, cancel := context.WithCancel(context.Background())
	b := &Board{Machine: m, Firmware: fw, Icount: icount, cancel: cancel, exited: make(chan struct{}),
		stderr: newTail(8 << 10), dir: dir}
	b.cmd = exec.CommandContext(runCtx, qemu, args...)
	b.cmd.Stdout = b.stderr
	b.cmd.Stderr = b.stderr
	b.cmd.WaitDelay = time.Second
	// If this process dies without closing the board (a test binary's
	// timeout panic skips cleanups), the kernel kills QEMU too.
	b.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := b.cmd.Start(); err != nil {
		cancel()
		os.RemoveAll(dir)
		return nil, fmt.Errorf("emu: start %s: %w", qemu, err)
	}
	go func() {
		_ = b.cmd.Wait()
		close(b.exited)
	}()
	if err := b.boot(ctx, sock); err != nil {
		b.Close()
		return nil, fmt.Errorf("emu: %s %s: %w%s", qemu, strings.Join(args, " "), err, b.stderr.report())
	}
	return b, nil
}

// boot waits for the pty announcement and connects to QMP.
func (b *Board) boot(ctx context.Context, sock string) error {
	select {
	case <-b.stderr.found:
		b.Path = b.stderr.path
		// QEMU checks for a reader on its pty once a second while none is
		// attached and drops what the board sends meanwhile; holding the
		// slave open keeps it attached, so a client's first request is
		// answered at once. Clients flush the board's earlier output when
		// they open the port. Only awaitBoot reads this file.
		hold, err := os.OpenFile(b.Path, os.O_RDWR|syscall.O_NOCTTY|syscall.O_NONBLOCK, 0)
		if err != nil {
			return fmt.Errorf("open %s: %w", b.Path, err)
		}
		b.hold = hold
	case <-b.exited:
		return errors.New("QEMU exited at start")
	case <-ctx.Done():
		return fmt.Errorf("no pty announced: %w", ctx.Err())
	}
	q, err := dialQMP(ctx, sock, b.exited)
	if err != nil {
		return err
	}
	b.qmp = q
	if err := q.run(ctx, "cont"); err != nil {
		return err
	}
	return b.awaitBoot(ctx)
}

// awaitBoot reads the held slave until the firmware's boot INFO has gone
// out whole. A client that opened the port while the board was still
// booting could lose its first request to a UART not yet enabled, or flush
// half the announcement and read the rest as a corrupt frame.
func (b *Board) awaitBoot(ctx context.Context) error {
	stop := context.AfterFunc(ctx, func() { b.hold.SetReadDeadline(time.Now()) })
	defer stop()
	defer b.hold.SetReadDeadline(time.Time{})
	dec := firmware.NewDecoder(firmware.MaxPayloadLimit)
	buf := make([]byte, 512)
	for booted := false; !booted; {
		n, err := b.hold.Read(buf)
		dec.Feed(buf[:n], func(e firmware.Event) {
			booted = booted || e.Kind == firmware.EventFrame && e.Frame.Type == firmware.TypeInfo
		})
		if err != nil && !booted {
			if ctx.Err() != nil {
				err = ctx.Err()
			}
			return fmt.Errorf("the firmware did not announce itself: %w", err)
		}
	}
	return nil
}

// Start starts an emulated board and closes it when the test ends. It skips
// the test when qemu-system-arm or the cross compiler is not installed, and
// fails it if the board does not start.
func Start(tb testing.TB, opts Options) *Board {
	tb.Helper()
	ctx := tb.Context()
	b, err := Listen(ctx, opts)
	if errors.Is(err, ErrToolMissing) {
		tb.Skipf("emu.Start: %v", err)
	}
	if err != nil {
		tb.Fatalf("emu.Start: %v", err)
	}
	tb.Cleanup(func() {
		if err := b.Close(); err != nil {
			tb.Errorf("emu: closing the board: %v", err)
		}
	})
	return b
}

// Label is how every figure from this board must be labelled.
func (b *Board) Label() string { return b.Machine.Label() }

// Reset resets the whole machine (QMP system_reset), as a reset button
// would: the firmware boots again with a new boot id.
func (b *Board) Reset(ctx context.Context) error { return b.command(ctx, "system_reset") }

// Pause stops the emulated processor (QMP stop): the board hangs, with its
// line open, until Resume.
func (b *Board) Pause(ctx context.Context) error { return b.command(ctx, "stop") }

// Resume restarts a paused processor (QMP cont).
func (b *Board) Resume(ctx context.Context) error { return b.command(ctx, "cont") }

// Kill ends QEMU at once, as pulling the cable would: the pty disappears
// under whoever has it open. Close still has to be called.
func (b *Board) Kill() error {
	b.cancel()
	<-b.exited
	return nil
}

// Exited reports whether QEMU has exited.
func (b *Board) Exited() bool {
	select {
	case <-b.exited:
		return true
	default:
		return false
	}
}

func (b *Board) command(ctx context.Context, cmd string) error {
	if b.Exited() {
		return fmt.Errorf("emu: %s: QEMU has exited%s", cmd, b.stderr.report())
	}
	if err := b.qmp.run(ctx, cmd); err != nil {
		return fmt.Errorf("emu: %w", err)
	}
	return nil
}

// Close stops QEMU (QMP quit, then a kill if it lingers) and waits for it.
// It is safe to call twice.
func (b *Board) Close() error {
	b.closeOnce.Do(func() {
		if b.qmp != nil && !b.Exited() {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			// QEMU may close the socket before it answers quit.
			_ = b.qmp.run(ctx, "quit")
			cancel()
			select {
			case <-b.exited:
			case <-time.After(2 * time.Second):
			}
		}
		b.cancel()
		<-b.exited
		if b.qmp != nil {
			b.qmp.Close()
		}
		if b.hold != nil {
			b.hold.Close()
		}
		b.closeErr = os.RemoveAll(b.dir)
	})
	return b.closeErr
}

// Open opens the board's pty as a serial port whose HardReset is the
// machine reset, so device.Device.HardReset works on an emulated board as
// on one with reset lines. The caller must Close it.
func (b *Board) Open(ctx context.Context) (*Port, error) {
	sp, err := serialport.Open(ctx, b.Path, 115200)
	if err != nil {
		return nil, err
	}
	return &Port{Port: sp, board: b}, nil
}

// Port is a serial port on an emulated board. It is a device.Transport
// and a device.HardResetter.
type Port struct {
	*serialport.Port
	board *Board
}

// HardReset resets the emulated machine; see Board.Reset.
func (p *Port) HardReset(ctx context.Context) error { return p.board.Reset(ctx) }

// tail keeps the last bytes QEMU printed and watches for its pty line.
type tail struct {
	mu    sync.Mutex
	buf   []byte
	limit int
	line  []byte
	found chan struct{}
	path  string // set before found is closed
}

func newTail(limit int) *tail { return &tail{limit: limit, found: make(chan struct{})} }

func (t *tail) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, p...)
	if len(t.buf) > t.limit {
		t.buf = t.buf[len(t.buf)-t.limit:]
	}
	if t.path == "" {
		t.line = append(t.line, p...)
		for {
			i := bytes.IndexByte(t.line, '\n')
			if i < 0 {
				if len(t.line) > 4096 {
					t.line = t.line[len(t.line)-4096:]
				}
				break
			}
			if m := ptyLine.FindSubmatch(t.line[:i]); m != nil {
				t.path = string(m[1])
				t.line = nil
				close(t.found)
				break
			}
			t.line = t.line[i+1:]
		}
	}
	return len(p), nil
}

// report returns what QEMU printed, for an error message.
func (t *tail) report() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	s := strings.TrimSpace(string(t.buf))
	if s == "" {
		return ""
	}
	return "\nQEMU said:\n" + s
}
