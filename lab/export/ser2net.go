package export

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Served is one board ser2net serves: its serial device and the TCP port
// of its RFC 2217 accepter.
type Served struct {
	ID     string
	Device string // e.g. /dev/ttyUSB0
	Port   int
	Baud   int // default 115200
}

var anchorUnsafe = regexp.MustCompile(`[^A-Za-z0-9_-]`)

// Config returns the ser2net YAML configuration that serves boards, one
// connection each, with an RFC 2217 telnet accepter on listen (an address,
// "" for every interface) and the board's port.
//
// chardelay is off: by default ser2net holds what it reads from the board
// for two character times, at least 1 ms, before sending it on, which
// costs a request/response protocol about 3.5 ms a round trip. kickolduser
// is on: only the lease holder connects, so a connection still open when
// a new one arrives belongs to a holder whose lease has ended.
func Config(boards []Served, listen string) []byte {
	var b bytes.Buffer
	b.WriteString("%YAML 1.1\n---\n# Written by tiny-profiler lab export: one connection per board this host\n# serves; it is rewritten when a board is plugged in or out.\n")
	if len(boards) == 0 {
		// ser2net refuses a document with no content.
		b.WriteString("define: &tinyprof_none none\n")
	}
	for i, s := range boards {
		baud := s.Baud
		if baud <= 0 {
			baud = 115200
		}
		addr := strconv.Itoa(s.Port)
		if listen != "" {
			addr = listen + "," + addr
		}
		fmt.Fprintf(&b, "connection: &tp%d_%s\n", i, anchorUnsafe.ReplaceAllString(s.ID, "_"))
		fmt.Fprintf(&b, "  accepter: telnet(rfc2217),tcp,%s\n", addr)
		fmt.Fprintf(&b, "  connector: serialdev,%s,%dn81,local\n", s.Device, baud)
		b.WriteString("  options:\n    chardelay: false\n    kickolduser: true\n")
	}
	return b.Bytes()
}

// WriteConfig writes data to path atomically (a temporary file renamed
// over it), so that ser2net never reads half a file. It reports whether
// the file changed.
func WriteConfig(path string, data []byte) (bool, error) {
	old, err := os.ReadFile(path)
	if err == nil && bytes.Equal(old, data) {
		return false, nil
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		return false, fmt.Errorf("write the ser2net configuration: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return false, fmt.Errorf("write the ser2net configuration: %w", err)
	}
	return true, nil
}

// CheckConfig reports whether the file at path is what the exporter
// would write, and if not, what differs.
func CheckConfig(path string, want []byte) error {
	got, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("ser2net configuration: %w", err)
	}
	if bytes.Equal(got, want) {
		return nil
	}
	return fmt.Errorf("ser2net configuration %s differs from what lab export would write:\n%s", path, lineDiff(string(want), string(got)))
}

// lineDiff lists the lines only one of want and got has: "-" want, "+" got.
func lineDiff(want, got string) string {
	in := func(s string) map[string]bool {
		m := map[string]bool{}
		for _, l := range strings.Split(s, "\n") {
			m[l] = true
		}
		return m
	}
	w, g := in(want), in(got)
	var b strings.Builder
	for _, l := range strings.Split(want, "\n") {
		if !g[l] {
			b.WriteString("-" + l + "\n")
		}
	}
	for _, l := range strings.Split(got, "\n") {
		if !w[l] {
			b.WriteString("+" + l + "\n")
		}
	}
	return b.String()
}

// Ser2net is a ser2net process the exporter runs itself (lab export
// --run-ser2net), in the foreground and its own process group, so that
// it ends with the exporter.
type Ser2net struct {
	cmd    *exec.Cmd
	done   chan struct{}
	mu     sync.Mutex
	stderr bytes.Buffer
}

// StartSer2net runs bin (ser2net) on the configuration file config. The
// caller must Close it.
func StartSer2net(bin, config string) (*Ser2net, error) {
	s := &Ser2net{done: make(chan struct{})}
	s.cmd = exec.Command(bin, "-n", "-c", config)
	s.cmd.Stderr = (*lockedWriter)(s)
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
	if err := s.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start ser2net (apt-get install ser2net, or give its path): %w", err)
	}
	go func() { s.cmd.Wait(); close(s.done) }()
	return s, nil
}

type lockedWriter Ser2net

func (w *lockedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.stderr.Len() < 64<<10 {
		w.stderr.Write(p)
	}
	return len(p), nil
}

// Output returns what ser2net wrote to its standard error (the first
// 64 KiB).
func (s *Ser2net) Output() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stderr.String()
}

// Reload makes ser2net read its configuration again (SIGHUP).
func (s *Ser2net) Reload(context.Context) error {
	select {
	case <-s.done:
		return fmt.Errorf("ser2net exited: %s", s.Output())
	default:
	}
	return s.cmd.Process.Signal(syscall.SIGHUP)
}

// Close stops ser2net: SIGTERM, then SIGKILL after two seconds.
func (s *Ser2net) Close() error {
	select {
	case <-s.done:
		return nil
	default:
	}
	syscall.Kill(-s.cmd.Process.Pid, syscall.SIGTERM)
	select {
	case <-s.done:
	case <-time.After(2 * time.Second):
		syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
		<-s.done
	}
	return nil
}

// ErrNoSer2net is returned by FindSer2net when ser2net is not installed.
var ErrNoSer2net = errors.New("ser2net not found: apt-get install -y --no-install-recommends ser2net")

// FindSer2net returns the ser2net binary's path: on PATH, or where Debian
// installs it (/usr/sbin, not on every user's PATH).
func FindSer2net() (string, error) {
	if p, err := exec.LookPath("ser2net"); err == nil {
		return p, nil
	}
	for _, p := range []string{"/usr/sbin/ser2net", "/usr/local/sbin/ser2net"} {
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	return "", ErrNoSer2net
}
