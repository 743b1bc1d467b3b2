package rfc2217_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// requireLab is set in CI: a missing server there is a failure, not a skip.
var requireLab = os.Getenv("TINYPROF_REQUIRE_LAB") == "1"

// need skips the test (or fails it under TINYPROF_REQUIRE_LAB=1) when a
// tool from a Debian package is missing.
func need(tb testing.TB, what, pkg string) {
	tb.Helper()
	msg := fmt.Sprintf("%s not found: apt-get install -y --no-install-recommends %s", what, pkg)
	if requireLab {
		tb.Fatal(msg + " (TINYPROF_REQUIRE_LAB=1)")
	}
	tb.Skip(msg)
}

// ser2netPath finds the ser2net binary, which Debian installs in /usr/sbin
// (not on every user's PATH).
func ser2netPath(tb testing.TB) string {
	tb.Helper()
	if p, err := exec.LookPath("ser2net"); err == nil {
		return p
	}
	for _, p := range []string{"/usr/sbin/ser2net", "/usr/local/sbin/ser2net"} {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	need(tb, "ser2net", "ser2net")
	return ""
}

// freePort returns a loopback TCP port that was free a moment ago. Another
// process may take it before the server binds; callers retry.
func freePort(tb testing.TB) int {
	tb.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// server is a child process serving one port, stopped at cleanup.
type server struct {
	cmd    *exec.Cmd
	done   chan struct{}
	mu     sync.Mutex
	output strings.Builder // stderr, for failure messages
}

func (s *server) log() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.output.String()
}

// startProcess runs name args in its own process group, collecting its
// stderr, and kills the whole group at cleanup. lines, if not nil,
// receives its stdout line by line.
func startProcess(tb testing.TB, lines chan<- string, name string, args ...string) *server {
	tb.Helper()
	s := &server{cmd: exec.Command(name, args...), done: make(chan struct{})}
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	stderr, err := s.cmd.StderrPipe()
	if err != nil {
		tb.Fatal(err)
	}
	stdout, err := s.cmd.StdoutPipe()
	if err != nil {
		tb.Fatal(err)
	}
	if err := s.cmd.Start(); err != nil {
		tb.Fatalf("start %s: %v", name, err)
	}
	var readers sync.WaitGroup
	readers.Add(2)
	go func() {
		defer readers.Done()
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			s.mu.Lock()
			if s.output.Len() < 64<<10 {
				s.output.WriteString(sc.Text() + "\n")
			}
			s.mu.Unlock()
		}
	}()
	go func() {
		defer readers.Done()
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if lines != nil {
				select {
				case lines <- sc.Text():
				default: // nobody listening: drop rather than stall the child
				}
			}
		}
		io.Copy(io.Discard, stdout)
	}()
	go func() {
		readers.Wait()
		s.cmd.Wait()
		close(s.done)
	}()
	tb.Cleanup(func() {
		pgid := s.cmd.Process.Pid
		syscall.Kill(-pgid, syscall.SIGTERM)
		select {
		case <-s.done:
		case <-time.After(3 * time.Second):
			syscall.Kill(-pgid, syscall.SIGKILL)
			<-s.done
		}
		if tb.Failed() {
			tb.Logf("%s wrote on stderr:\n%s", filepath.Base(name), s.log())
		}
	})
	return s
}

// exited reports whether the process has ended.
func (s *server) exited() bool {
	select {
	case <-s.done:
		return true
	default:
		return false
	}
}

// waitListening waits until something accepts connections on addr, or the
// process ends, or 5 s pass.
func waitListening(ctx context.Context, s *server, addr string) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	for {
		var d net.Dialer
		c, err := d.DialContext(ctx, "tcp", addr)
		if err == nil {
			c.Close()
			return nil
		}
		if s.exited() {
			return errors.New("the server exited")
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// startSer2net runs the real ser2net in front of the serial device at
// path (a simulated board's pty) with an RFC 2217 telnet accepter on
// loopback, and returns its address, HOST:PORT.
//
// chardelay is off: by default ser2net holds what it reads from the port
// for two character times, at least 1 ms, before sending it on, which
// costs a request/response protocol about 3.5 ms a round trip here.
func startSer2net(tb testing.TB, path string) string {
	tb.Helper()
	addr, _ := startSer2netProcess(tb, path)
	return addr
}

// startSer2netProcess is startSer2net that also returns the process.
func startSer2netProcess(tb testing.TB, path string) (string, *server) {
	tb.Helper()
	bin := ser2netPath(tb)
	dir := tb.TempDir()
	var last error
	for attempt := 0; attempt < 5; attempt++ {
		port := freePort(tb)
		addr := fmt.Sprintf("127.0.0.1:%d", port)
		cfg := filepath.Join(dir, fmt.Sprintf("ser2net-%d.yaml", attempt))
		yaml := fmt.Sprintf(`connection: &board
  accepter: telnet(rfc2217),tcp,127.0.0.1,%d
  connector: serialdev,%s,115200n81,local
  options:
    kickolduser: true
    chardelay: false
`, port, path)
		if err := os.WriteFile(cfg, []byte(yaml), 0o600); err != nil {
			tb.Fatal(err)
		}
		s := startProcess(tb, nil, bin, "-n", "-d", "-c", cfg)
		if last = waitListening(tb.Context(), s, addr); last == nil {
			return addr, s
		}
		last = fmt.Errorf("%w; ser2net said:\n%s", last, s.log())
	}
	tb.Fatalf("ser2net did not start: %v", last)
	return "", nil
}

// kill ends the process group at once, as a crash or a lost host would.
func (s *server) kill() {
	syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
	<-s.done
}

// pythonWithSerial finds a Python 3 that has pyserial's rfc2217 module:
// Debian's /usr/bin/python3 with python3-serial, or one on PATH.
func pythonWithSerial(tb testing.TB) string {
	tb.Helper()
	for _, py := range []string{"/usr/bin/python3", "python3"} {
		p, err := exec.LookPath(py)
		if err != nil {
			continue
		}
		if exec.Command(p, "-c", "import serial.rfc2217").Run() == nil {
			return p
		}
	}
	need(tb, "python3 with pyserial's serial.rfc2217", "python3-serial")
	return ""
}

// pyserialServer is testdata/pyserial_server.py serving one port.
type pyserialServer struct {
	Addr   string
	events chan string // the settings it logs, one JSON object a line
}

// startPyserial runs pyserial's RFC 2217 PortManager in front of path and
// returns its address once it listens.
func startPyserial(tb testing.TB, path string) *pyserialServer {
	tb.Helper()
	py := pythonWithSerial(tb)
	script, err := filepath.Abs("testdata/pyserial_server.py")
	if err != nil {
		tb.Fatal(err)
	}
	lines := make(chan string, 256)
	s := startProcess(tb, lines, py, script, path)
	select {
	case l := <-lines:
		addr, ok := strings.CutPrefix(l, "listening ")
		if !ok {
			tb.Fatalf("pyserial server said %q, want \"listening HOST:PORT\"", l)
		}
		return &pyserialServer{Addr: addr, events: lines}
	case <-s.done:
		tb.Fatalf("pyserial server exited: %s", s.log())
	case <-time.After(10 * time.Second):
		tb.Fatalf("pyserial server did not start: %s", s.log())
	}
	return nil
}
