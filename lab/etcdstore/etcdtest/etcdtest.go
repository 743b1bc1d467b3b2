// Package etcdtest starts a real etcd server (Debian's etcd-server) for
// the tests of packages that keep a lab in etcd, as net/http/httptest
// starts an HTTP server: Start returns a running member whose Endpoint a
// test hands to real client code, stopped when the test ends.
package etcdtest

import (
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
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
	// Name is the member's name in its cluster: m0, m1, ...
	Name string
	// Endpoint is its client address, 127.0.0.1:PORT.
	Endpoint string

	cmd    *exec.Cmd
	out    *Buffer
	exited chan struct{}
}

// Cluster is the members StartCluster started.
type Cluster struct {
	Members []*Server
}

// Endpoints returns every member's client address.
func (c *Cluster) Endpoints() []string {
	var out []string
	for _, m := range c.Members {
		out = append(out, m.Endpoint)
	}
	return out
}

// TLS makes the members serve clients over TLS, with the certificate
// CertFile and its key KeyFile, and accept only clients whose
// certificate CAFile signed.
type TLS struct {
	CAFile, CertFile, KeyFile string
	// Client is what the readiness probe dials the members with: a
	// client certificate CAFile signed, and CAFile as its roots.
	Client *tls.Config
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

// Require returns what find finds, a server's binary, when it finds it.
// When it does not, it skips tb, or fails it under TINYPROF_REQUIRE_LAB,
// where a lab test that cannot run must not pass. find's error should
// name the fix (the package to install).
func Require(tb testing.TB, find func() (string, error)) string {
	tb.Helper()
	path, err := find()
	if err != nil {
		if os.Getenv(EnvRequire) != "" {
			tb.Fatalf("%v (%s is set)", err, EnvRequire)
		}
		tb.Skip(err.Error())
	}
	return path
}

// FindEtcd returns the etcd server's path on PATH, or an error that says
// which package to install.
func FindEtcd() (string, error) {
	path, err := exec.LookPath("etcd")
	if err != nil {
		return "", fmt.Errorf("no etcd binary (%v): apt-get install -y --no-install-recommends etcd-server", err)
	}
	return path, nil
}

// Binary returns the etcd server's path, skipping tb (or failing it,
// under TINYPROF_REQUIRE_LAB) when it is not installed.
func Binary(tb testing.TB) string {
	tb.Helper()
	return Require(tb, FindEtcd)
}

// Start starts a single-member etcd on loopback ports, in a temporary
// data directory, and waits until it answers. It is killed, and waited
// for, when tb ends. Its timing (50 ms heartbeats, 500 ms elections)
// allows lease TTLs down to 1 s.
func Start(tb testing.TB) *Server {
	tb.Helper()
	return StartCluster(tb, 1, nil).Members[0]
}

// StartCluster is Start for a cluster of n members, serving clients over
// TLS when tlsOpt is set. Its timing makes a leader's failover quick.
func StartCluster(tb testing.TB, n int, tlsOpt *TLS) *Cluster {
	tb.Helper()
	bin := Binary(tb)
	c, err := launch(bin, tb.TempDir(), n, tlsOpt)
	if err != nil {
		tb.Fatalf("etcdtest: %v", err)
	}
	tb.Cleanup(func() {
		for _, m := range c.Members {
			m.Stop()
			if tb.Failed() {
				tb.Logf("etcd %s output:\n%s", m.Name, m.Output())
			}
		}
	})
	return c
}

// Launch is Start for harnesses that are not a testing.TB (testscript's
// commands): it runs the etcd binary bin with its data in dir and waits
// until it answers. The caller must Stop it.
func Launch(bin, dir string) (*Server, error) {
	c, err := launch(bin, dir, 1, nil)
	if err != nil {
		return nil, err
	}
	return c.Members[0], nil
}

// launch starts n members of one cluster and waits until each answers.
func launch(bin, dir string, n int, tlsOpt *TLS) (*Cluster, error) {
	if n < 1 {
		return nil, fmt.Errorf("a cluster of %d members", n)
	}
	scheme := "http://"
	var tlsArgs []string
	var clientTLS *tls.Config
	if tlsOpt != nil {
		scheme = "https://"
		tlsArgs = []string{"--cert-file", tlsOpt.CertFile, "--key-file", tlsOpt.KeyFile, "--trusted-ca-file", tlsOpt.CAFile, "--client-cert-auth"}
		clientTLS = tlsOpt.Client
	}
	var last error
	for attempt := range 3 { // another process may take a port between probe and bind
		ports, err := freePorts(2 * n)
		if err != nil {
			return nil, err
		}
		c := &Cluster{}
		var peers, initial []string
		for i := range n {
			name := fmt.Sprintf("m%d", i)
			c.Members = append(c.Members, &Server{Name: name, Endpoint: fmt.Sprintf("127.0.0.1:%d", ports[2*i]), out: &Buffer{}, exited: make(chan struct{})})
			peers = append(peers, fmt.Sprintf("http://127.0.0.1:%d", ports[2*i+1]))
			initial = append(initial, name+"="+peers[i])
		}
		for i, m := range c.Members {
			m.cmd = exec.Command(bin, append([]string{
				"--name", m.Name,
				"--data-dir", filepath.Join(dir, fmt.Sprintf("etcd%d-%s", attempt, m.Name)),
				"--listen-client-urls", scheme + m.Endpoint,
				"--advertise-client-urls", scheme + m.Endpoint,
				"--listen-peer-urls", peers[i],
				"--initial-advertise-peer-urls", peers[i],
				"--initial-cluster", strings.Join(initial, ","),
				"--initial-cluster-state", "new",
				"--initial-cluster-token", "tinyprof-test",
				"--heartbeat-interval", "50",
				"--election-timeout", "500",
				"--logger", "zap", "--log-outputs", "stderr", "--log-level", "warn",
			}, tlsArgs...)...)
			m.cmd.Stdout, m.cmd.Stderr = m.out, m.out
			// A test binary killed by its -timeout runs no cleanup: the
			// member must die with it rather than outlive it.
			m.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
			if err := m.cmd.Start(); err != nil {
				c.stop()
				return nil, fmt.Errorf("start %s: %w", bin, err)
			}
			go func() { m.cmd.Wait(); close(m.exited) }()
		}
		last = nil
		deadline := time.Now().Add(20 * time.Second)
		for _, m := range c.Members {
			if last = m.wait(deadline, clientTLS); last != nil {
				break
			}
		}
		if last == nil {
			return c, nil
		}
		c.stop()
	}
	return nil, last
}

// stop stops the members that were started.
func (c *Cluster) stop() {
	for _, m := range c.Members {
		if m.cmd != nil && m.cmd.Process != nil {
			m.Stop()
		}
	}
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

// wait returns once the member answers a read, or an error at deadline
// or when it exits.
func (s *Server) wait(deadline time.Time, clientTLS *tls.Config) error {
	cl, err := clientv3.New(clientv3.Config{Endpoints: []string{s.Endpoint}, TLS: clientTLS, Logger: zap.NewNop()})
	if err != nil {
		return err
	}
	defer cl.Close()
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
		_, err = cl.Get(ctx, "ready")
		cancel()
		if err == nil {
			return nil
		}
		select {
		case <-s.exited:
			return fmt.Errorf("etcd %s exited: %s", s.Name, s.out.String())
		default:
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("etcd %s not ready in 20s: %v\n%s", s.Name, err, s.out.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// PortRun is FreePortRun for tests: it fails tb when there is no such run.
func PortRun(tb testing.TB, n int) int {
	tb.Helper()
	base, err := FreePortRun(n)
	if err != nil {
		tb.Fatal(err)
	}
	return base
}

// FreePortRun returns the first of n consecutive loopback ports that were
// free a moment ago, for servers (ser2net's accepters) that take a base
// port and count up from it.
func FreePortRun(n int) (int, error) {
	for base := 20000 + int(time.Now().UnixNano()%20000); base+n <= 60000; base += n {
		ok := true
		for p := base; p < base+n && ok; p++ {
			ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", p))
			if err != nil {
				ok = false
				continue
			}
			ln.Close()
		}
		if ok {
			return base, nil
		}
	}
	return 0, fmt.Errorf("no %d free consecutive loopback ports", n)
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

// Buffer is a bytes.Buffer that a child process's output and a test may
// use at once.
type Buffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *Buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *Buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}
