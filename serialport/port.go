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
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"go.bug.st/serial"
	"golang.org/x/sys/unix"
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
	steps := []struct {
		dtr, rts bool
		wait     time.Duration
	}{
		{false, true, 100 * time.Millisecond}, // EN low: chip held in reset
		{false, false, 50 * time.Millisecond}, // EN high, IO0 high: normal boot
	}
	for _, st := range steps {
		if err := s.port.SetDTR(st.dtr); err != nil {
			return resetLineError(s.path, err)
		}
		if err := s.port.SetRTS(st.rts); err != nil {
			return resetLineError(s.path, err)
		}
		select {
		case <-ctx.Done():
			return &Error{Op: "hard reset", Port: s.path, Kind: Timeout, Err: ctx.Err()}
		case <-time.After(st.wait):
		}
	}
	return nil
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

// busyHint names the processes that have path open, when /proc says.
func busyHint(path string) string {
	holders := portHolders(path, 8)
	if len(holders) == 0 {
		return "another process holds it; close it (or release its lease) and retry"
	}
	return "held by " + strings.Join(holders, ", ") + "; close it and retry"
}

// portHolders scans /proc for other processes with path open, returning
// "pid N (comm)" for at most limit of them.
func portHolders(path string, limit int) []string {
	target, err := filepath.EvalSymlinks(path)
	if err != nil {
		return nil
	}
	procs, _ := os.ReadDir("/proc")
	self := os.Getpid()
	var out []string
	for _, p := range procs {
		pid, err := strconv.Atoi(p.Name())
		if err != nil || pid == self {
			continue
		}
		fds, _ := os.ReadDir(filepath.Join("/proc", p.Name(), "fd"))
		for _, fd := range fds {
			if l, err := os.Readlink(filepath.Join("/proc", p.Name(), "fd", fd.Name())); err == nil && l == target {
				comm, _ := os.ReadFile(filepath.Join("/proc", p.Name(), "comm"))
				out = append(out, fmt.Sprintf("pid %d (%s)", pid, strings.TrimSpace(string(comm))))
				break
			}
		}
		if len(out) >= limit {
			break
		}
	}
	return out
}
