// Package serialport opens serial ports for tinyprof — a board's console, a
// power meter's USB link, a pseudo-terminal — and finds them on this host.
//
// It is a leaf: the board's protocol client (device), the meter drivers
// (power/ppk2, power/lpm01a) and the lab all open ports through it, and it
// imports nothing else of tinyprof but the error formatter. An open Port
// holds an advisory lock (flock) on the device node, so two tinyprof
// processes never share a board, and errors say who holds a busy port.
package serialport

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"go.bug.st/serial"
	"golang.org/x/sys/unix"

	"github.com/tinyprof/tinyprof/internal/espreset"
)

// readTimeout bounds each Read on a serial port, so that a reader notices
// Close and quiet lines; go.bug.st/serial reports its expiry as (0, nil),
// which Port turns into a timeout error.
const readTimeout = 100 * time.Millisecond

// maxSelectFD is FD_SETSIZE on Linux.
const maxSelectFD = 1024

// Port is an open serial port (a USB-serial bridge, a native USB CDC port,
// or a pseudo-terminal) using go.bug.st/serial. It satisfies
// device.Transport: Read returns a timeout error (Timeout() true, matching
// os.ErrDeadlineExceeded) after a quiet period of about 100 ms, and Close
// unblocks a pending Read.
//
// It holds an advisory lock (flock) on the device node for as long as it is
// open: the kernel's exclusive-open flag (TIOCEXCL) does not stop root, and
// the lock also excludes pyserial tools opened with exclusive=True, such as
// esptool.
type Port struct {
	path string
	port serial.Port
	lock *os.File

	closeOnce sync.Once
	closeErr  error
}

// Open opens the serial port at path at the given baud rate (0 means
// 115200) and locks it. It fails at once, without waiting, when another
// process holds the lock. The caller must Close the port.
func Open(ctx context.Context, path string, baud int) (*Port, error) {
	if err := ctx.Err(); err != nil {
		return nil, &Error{Op: "open", Port: path, Kind: Timeout, Err: err}
	}
	if baud == 0 {
		baud = 115200
	}
	lock, err := lockPort(path)
	if err != nil {
		return nil, err
	}
	if plain := plainHolders(path); len(plain) > 0 {
		lock.Close()
		names := make([]string, len(plain))
		for i, h := range plain {
			names[i] = h.String()
		}
		return nil, &Error{Op: "open", Port: path, Kind: Busy,
			Err:  fmt.Errorf("open without a lock by %s", strings.Join(names, ", ")),
			Hint: "another program (a terminal such as screen or minicom, or ModemManager) would read the board's bytes; close it and retry"}
	}
	// go.bug.st/serial's Read uses select() with a fixed 1024-bit fd set and
	// panics on a higher fd (shared/research/go_ecosystem.md §1.4). The
	// port's fd comes next after the lock's: refuse rather than crash later.
	if fd := lock.Fd(); fd >= maxSelectFD-8 {
		lock.Close()
		return nil, &Error{Op: "open", Port: path, Kind: Closed,
			Err:  fmt.Errorf("file descriptor %d is too high for the serial library's select()", fd),
			Hint: "the process has too many files open; open serial ports early, before other files"}
	}
	port, err := serial.Open(path, &serial.Mode{BaudRate: baud})
	if err != nil {
		lock.Close()
		return nil, openError(path, err)
	}
	// Bytes the board sent before we opened are stale: drop them.
	_ = port.ResetInputBuffer()
	if err := port.SetReadTimeout(readTimeout); err != nil {
		port.Close()
		lock.Close()
		return nil, &Error{Op: "open", Port: path, Kind: Closed, Err: err}
	}
	return &Port{path: path, port: port, lock: lock}, nil
}

// Name returns the port's path.
func (s *Port) Name() string { return s.path }

// Read reads from the port; see Transport for the timeout contract.
func (s *Port) Read(p []byte) (int, error) {
	n, err := s.port.Read(p)
	if n == 0 && err == nil && len(p) > 0 {
		return 0, timeoutError{}
	}
	if err != nil {
		return n, &Error{Op: "read", Port: s.path, Kind: Closed, Err: err,
			Hint: "the board was unplugged or reset its USB; find it again by serial number"}
	}
	return n, nil
}

// Write writes p to the port.
func (s *Port) Write(p []byte) (int, error) {
	n, err := s.port.Write(p)
	if err != nil {
		return n, &Error{Op: "write", Port: s.path, Kind: Closed, Err: err}
	}
	return n, nil
}

// Abort discards what is queued for output, which wakes a Write blocked on a
// peer that stopped reading, and closes the port.
func (s *Port) Abort() error {
	_ = s.port.ResetOutputBuffer() // TCFLSH TCOFLUSH: the blocked write finds room
	return s.Close()
}

// Close closes the port and releases its lock. It is safe to call twice.
func (s *Port) Close() error {
	s.closeOnce.Do(func() {
		s.closeErr = s.port.Close()
		s.lock.Close() // closing the fd drops the flock
	})
	return s.closeErr
}

// HardReset resets an ESP32-style board through DTR (to IO0) and RTS (to
// EN), with esptool's classic sequence, leaving both lines released so the
// board boots its application rather than the ROM bootloader. A port
// without modem lines (a pseudo-terminal) returns ErrNoResetLines.
func (s *Port) HardReset(ctx context.Context) error {
	err := espreset.Run(ctx, s.port.SetDTR, s.port.SetRTS)
	switch {
	case err == nil:
		return nil
	case ctx.Err() != nil && errors.Is(err, ctx.Err()):
		return &Error{Op: "hard reset", Port: s.path, Kind: Timeout, Err: err}
	}
	return resetLineError(s.path, err)
}

func resetLineError(path string, err error) error {
	if errors.Is(err, syscall.ENOTTY) || strings.Contains(err.Error(), "inappropriate ioctl") {
		return &Error{Op: "hard reset", Port: path, Kind: NoResetLines, Err: err,
			Hint: "this port has no DTR/RTS lines; use a protocol reset or press the board's reset button"}
	}
	return &Error{Op: "hard reset", Port: path, Kind: Closed, Err: err}
}

// lockPort takes an exclusive flock on the device node.
func lockPort(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_RDWR|syscall.O_NOCTTY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, openError(path, err)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, unix.EWOULDBLOCK) {
			return nil, &Error{Op: "open", Port: path, Kind: Busy, Err: err, Hint: busyHint(path)}
		}
		return nil, &Error{Op: "open", Port: path, Kind: Busy, Err: err}
	}
	return f, nil
}

// openError maps an open failure to a typed error with advice.
func openError(path string, err error) error {
	var pe *serial.PortError
	switch {
	case errors.Is(err, os.ErrNotExist):
		return &Error{Op: "open", Port: path, Kind: Missing, Err: err, Hint: portsHint()}
	case errors.Is(err, os.ErrPermission) || errors.As(err, &pe) && pe.Code() == serial.PermissionDenied:
		return &Error{Op: "open", Port: path, Kind: Permission, Err: err,
			Hint: "add yourself to the dialout group (sudo usermod -aG dialout $USER) and log in again"}
	case errors.Is(err, syscall.EBUSY) || errors.As(err, &pe) && pe.Code() == serial.PortBusy:
		return &Error{Op: "open", Port: path, Kind: Busy, Err: err, Hint: busyHint(path)}
	case errors.As(err, &pe) && pe.Code() == serial.InvalidSerialPort:
		return &Error{Op: "open", Port: path, Kind: Missing, Err: err, Hint: "the path is not a serial port; " + portsHint()}
	}
	return &Error{Op: "open", Port: path, Kind: Closed, Err: err}
}

// portsHint lists the serial ports that exist, for a port-missing error.
func portsHint() string {
	ports, _ := Detect()
	if len(ports) == 0 {
		return "no serial ports found: is the board plugged in, and does `dmesg` show it?"
	}
	var names []string
	for _, p := range ports {
		names = append(names, p.Path)
	}
	return "ports present: " + strings.Join(names, ", ")
}

// busyHint names the processes that have path open, when /proc says,
// leaving out the board's own server (see holders).
func busyHint(path string) string {
	var names []string
	for _, h := range holders(path) {
		if !h.server {
			names = append(names, h.String())
		}
		if len(names) == 8 {
			break
		}
	}
	if len(names) == 0 {
		return "another process holds it; close it (or release its lease) and retry"
	}
	return "held by " + strings.Join(names, ", ") + "; close it and retry"
}

// holder is another process with a port open.
type holder struct {
	pid  int
	comm string
	// server marks the process that serves a pseudo-terminal — it holds the
	// pty's master (/dev/ptmx with that tty-index), or is the parent of one
	// that does (a simulated board, QEMU's -serial pty and the tinyprof
	// process that started it) — rather than a client of the port.
	server bool
}

func (h holder) String() string { return fmt.Sprintf("pid %d (%s)", h.pid, h.comm) }

// holders scans /proc for other processes with path open. It costs one
// readlink per open file descriptor on the host, a few milliseconds.
func holders(path string) []holder {
	target, err := filepath.EvalSymlinks(path)
	if err != nil {
		return nil
	}
	ptyIndex := -1
	if n, ok := strings.CutPrefix(target, "/dev/pts/"); ok {
		if i, err := strconv.Atoi(n); err == nil {
			ptyIndex = i
		}
	}
	procs, _ := os.ReadDir("/proc")
	self := os.Getpid()
	var out []holder
	masters := map[int]bool{}
	for _, p := range procs {
		pid, err := strconv.Atoi(p.Name())
		if err != nil {
			continue
		}
		dir := filepath.Join("/proc", p.Name())
		fds, _ := os.ReadDir(filepath.Join(dir, "fd"))
		has, master := false, false
		for _, fd := range fds {
			l, err := os.Readlink(filepath.Join(dir, "fd", fd.Name()))
			switch {
			case err != nil:
			case l == target:
				has = true
			case ptyIndex >= 0 && l == "/dev/ptmx" && ptmxIndex(filepath.Join(dir, "fdinfo", fd.Name())) == ptyIndex:
				master = true
			}
		}
		if master {
			masters[pid] = true
			if pp := parentPID(dir); pp > 0 {
				masters[pp] = true
			}
		}
		if has && pid != self {
			comm, _ := os.ReadFile(filepath.Join(dir, "comm"))
			out = append(out, holder{pid: pid, comm: strings.TrimSpace(string(comm))})
		}
	}
	for i := range out {
		out[i].server = masters[out[i].pid]
	}
	return out
}

// plainHolders returns the clients (not servers) that have path open. Our
// own opens hold the flock, so a holder seen after we took the lock opened
// the port without one (a terminal program, ModemManager) and would read
// the board's bytes. An open that is only passing through — another
// tinyprof process finding the lock taken — is gone a moment later, so a
// holder counts only if it is still there on a second look.
func plainHolders(path string) []holder {
	first := holders(path)
	if !slices.ContainsFunc(first, func(h holder) bool { return !h.server }) {
		return nil
	}
	time.Sleep(50 * time.Millisecond)
	var out []holder
	for _, h := range holders(path) {
		if !h.server && slices.ContainsFunc(first, func(f holder) bool { return f.pid == h.pid }) {
			out = append(out, h)
		}
	}
	return out
}

// ptmxIndex reads the tty-index line of a /dev/ptmx descriptor's fdinfo
// (Linux 4.13 and later), or -1.
func ptmxIndex(fdinfo string) int {
	b, err := os.ReadFile(fdinfo)
	if err != nil {
		return -1
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "tty-index:"); ok {
			if i, err := strconv.Atoi(strings.TrimSpace(v)); err == nil {
				return i
			}
		}
	}
	return -1
}

// parentPID reads the parent's pid from /proc/PID/stat, or 0.
func parentPID(dir string) int {
	b, err := os.ReadFile(filepath.Join(dir, "stat"))
	if err != nil {
		return 0
	}
	// pid (comm) state ppid …: comm may hold spaces and parentheses.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 2 {
		return 0
	}
	pp, _ := strconv.Atoi(f[1])
	return pp
}
