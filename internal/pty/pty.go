// Package pty opens pseudo-terminal pairs for simulated boards, with the
// master in Go's poller so that deadlines and Close interrupt a blocked Read.
//
// creack/pty's Open puts the master into blocking mode (creack/pty#162), so
// this package opens /dev/ptmx itself with golang.org/x/sys; see
// shared/research/go_ecosystem.md §2.
package pty

import (
	"errors"
	"fmt"
	"os"
	"syscall"

	"golang.org/x/sys/unix"
)

// Pair is an open pseudo-terminal. The simulator side reads and writes
// Master; clients open Path (the slave, /dev/pts/N) like a serial port.
type Pair struct {
	Master *os.File
	// Slave is held open for the pair's life: while any slave fd is open, a
	// client closing the port does not make master reads fail with EIO.
	Slave *os.File
	Path  string
}

// Open opens a new pseudo-terminal in raw mode. The caller must Close it.
func Open() (*Pair, error) {
	master, err := os.OpenFile("/dev/ptmx", os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		return nil, fmt.Errorf("open /dev/ptmx: %w (is devpts mounted?)", err)
	}
	rc, err := master.SyscallConn()
	if err != nil {
		master.Close()
		return nil, err
	}
	var n int
	var ierr error
	if err := rc.Control(func(fd uintptr) {
		if ierr = unix.IoctlSetPointerInt(int(fd), unix.TIOCSPTLCK, 0); ierr != nil {
			return
		}
		n, ierr = unix.IoctlGetInt(int(fd), unix.TIOCGPTN)
	}); err != nil || ierr != nil {
		master.Close()
		return nil, fmt.Errorf("unlock pty: %w", errOr(err, ierr))
	}
	path := fmt.Sprintf("/dev/pts/%d", n)
	slave, err := os.OpenFile(path, os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		master.Close()
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	if err := makeRaw(slave); err != nil {
		slave.Close()
		master.Close()
		return nil, fmt.Errorf("raw mode on %s: %w", path, err)
	}
	return &Pair{Master: master, Slave: slave, Path: path}, nil
}

// Close closes both ends. A Read blocked on Master returns. Either end
// may already have been closed (a simulated board closes its master to
// model a disconnect); that is not an error.
func (p *Pair) Close() error {
	err1 := p.Master.Close()
	err2 := p.Slave.Close()
	return errOr(ignoreClosed(err1), ignoreClosed(err2))
}

func ignoreClosed(err error) error {
	if errors.Is(err, os.ErrClosed) {
		return nil
	}
	return err
}

func errOr(a, b error) error {
	if a != nil {
		return a
	}
	return b
}

// makeRaw puts the tty into raw mode (cfmakeraw): a new pty echoes and
// translates line endings, which would corrupt binary frames.
func makeRaw(f *os.File) error {
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var ierr error
	err = rc.Control(func(fd uintptr) {
		t, err := unix.IoctlGetTermios(int(fd), unix.TCGETS)
		if err != nil {
			ierr = err
			return
		}
		t.Iflag &^= unix.IGNBRK | unix.BRKINT | unix.PARMRK | unix.ISTRIP | unix.INLCR | unix.IGNCR | unix.ICRNL | unix.IXON
		t.Oflag &^= unix.OPOST
		t.Lflag &^= unix.ECHO | unix.ECHONL | unix.ICANON | unix.ISIG | unix.IEXTEN
		t.Cflag &^= unix.CSIZE | unix.PARENB
		t.Cflag |= unix.CS8
		t.Cc[unix.VMIN] = 1
		t.Cc[unix.VTIME] = 0
		ierr = unix.IoctlSetTermios(int(fd), unix.TCSETS, t)
	})
	return errOr(err, ierr)
}
