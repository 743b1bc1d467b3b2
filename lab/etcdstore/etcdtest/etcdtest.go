// Package etcdtest starts a real etcd server (Debian's etcd-server) for
// the tests of packages that keep a lab in etcd, as net/http/httptest
// starts an HTTP server: Start returns a running member whose Endpoint a
// test hands to real client code, stopped when the test ends.
package etcdtest

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
)

// EnvRequire, when set to anything, turns a missing etcd binary from a
// skip into a failure: CI sets it, so that the lab's tests cannot
// silently not run.
const EnvRequire = "TINYPROF_REQUIRE_LAB"

// Server is one etcd member started by a test.
type Server struct {
	// Endpoint is its client address, 127.0.0.1:PORT.
	Endpoint string

	cmd    *exec.Cmd
	out    *syncBuffer
	exited chan struct{}
}

// URL returns the lab address -hwtest.lab and the CLI's --lab take for
// the lab named lab on this server, etcd://127.0.0.1:PORT/LAB, with the
// lease TTL ttl (0: the default).
func (s *Server) URL(lab string, ttl time.Duration) string {
	u := "etcd://" + s.Endpoint + "/" + lab
	if ttl > 0 {
		u += "?ttl=" + ttl.String()
	}
	return u
}

// Binary returns the etcd server's path, skipping tb (or failing it,
// under TINYPROF_REQUIRE_LAB) when it is not installed.
func Binary(tb testing.TB) string {
	tb.Helper()
	path, err := exec.LookPath("etcd")
	if err != nil {
		msg := "no etcd binary: apt-get install -y --no-install-recommends etcd-server"
		if os.Getenv(EnvRequire) != "" {
			tb.Fatalf("%s (%v; %s is set)", msg, err, EnvRequire)
		}
		tb.Skip(msg)
	}
	return path
}

// Start starts a single-member etcd on loopback ports, in a temporary
// data directory, and waits until it answers. It is killed, and waited
// for, when tb ends. Its timing (50 ms heartbeats, 500 ms elections)
// allows lease TTLs down to 1 s.
func Start(tb testing.TB) *Server {
	tb.Helper()
	bin := Binary(tb)
	s, err := Launch(bin, tb.TempDir())
	if err != nil {
		tb.Fatalf("etcdtest: %v", err)
	}
	tb.Cleanup(func() {
		s.Stop()
		if tb.Failed() {
			tb.Logf("etcd output:\n%s", s.Output())
		}
	})
	return s
}

// Launch is Start for harnesses that are not a testing.TB (testscript's
// commands): it runs the etcd binary bin with its data in dir and waits
// until it answers. The caller must Stop it.
func Launch(bin, dir string) (*Server, error) {
	var last error
	for attempt := range 3 { // another process may take a port between probe and bind
		ports, err := freePorts(2)
		if err != nil {
			return nil, err
		}
		s := &Server{Endpoint: fmt.Sprintf("127.0.0.1:%d", ports[0]), out: &syncBuffer{}, exited: make(chan struct{})}
		peerURL := fmt.Sprintf("http://127.0.0.1:%d", ports[1])
		s.cmd = exec.Command(bin,
			"--name", "m0",
			"--data-dir", filepath.Join(dir, fmt.Sprintf("etcd%d", attempt)),
			"--listen-client-urls", "http://"+s.Endpoint,
			"--advertise-client-urls", "http://"+s.Endpoint,
			"--listen-peer-urls", peerURL,
			"--initial-advertise-peer-urls", peerURL,
			"--initial-cluster", "m0="+peerURL,
			"--heartbeat-interval", "50",
			"--election-timeout", "500",
			"--logger", "zap", "--log-outputs", "stderr", "--log-level", "warn",
		)
		s.cmd.Stdout, s.cmd.Stderr = s.out, s.out
		// A test binary killed by its -timeout runs no cleanup: the member
		// must die with it rather than outlive it.
		s.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
		if err := s.cmd.Start(); err != nil {
			return nil, fmt.Errorf("start %s: %w", bin, err)
		}
		go func() { s.cmd.Wait(); close(s.exited) }()
		if last = s.wait(20 * time.Second); last == nil {
			return s, nil
		}
		s.Stop()
	}
	return nil, last
}

// Stop kills the member and waits for it to exit. It is safe to call
// more than once.
func (s *Server) Stop() {
	s.cmd.Process.Signal(syscall.SIGCONT) // a stopped member cannot die
	s.cmd.Process.Kill()
	<-s.exited
}

// Output returns what the member logged.
func (s *Server) Output() string { return s.out.String() }

// wait returns once the member answers a read.
func (s *Server) wait(limit time.Duration) error {
	cl, err := clientv3.New(clientv3.Config{Endpoints: []string{s.Endpoint}, Logger: zap.NewNop()})
	if err != nil {
		return err
	}
	defer cl.Close()
	deadline := time.Now().Add(limit)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
		_, err = cl.Get(ctx, "ready")
		cancel()
		if err == nil {
			return nil
		}
		select {
		case <-s.exited:
			return fmt.Errorf("etcd exited: %s", s.out.String())
		default:
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("etcd not ready in %v: %v\n%s", limit, err, s.out.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// freePorts returns n distinct loopback ports that were free a moment
// ago: all are probed at once, so none is returned twice.
func freePorts(n int) ([]int, error) {
	var ports []int
	for range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		defer ln.Close()
		ports = append(ports, ln.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// syncBuffer is a bytes.Buffer that a process's output and a test may
// use at once.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}
