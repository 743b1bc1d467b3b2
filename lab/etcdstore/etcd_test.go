package etcdstore

import (
	"bytes"
	"context"
	"crypto/tls"
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

	"github.com/stretchr/testify/require"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
)

// envRequire, when set, turns a missing etcd binary from a skip into a
// failure: CI sets it, so that the lab's tests cannot silently not run.
const envRequire = "TINYPROF_REQUIRE_LAB"

// testTTL is the lease life in these tests: short, so that expiry is
// quick, above the minimum the members' timing below allows (1 s), and
// long enough that a loaded machine's stalls do not end leases.
const testTTL = 3 * time.Second

// member is one etcd server process started by a test.
type member struct {
	name       string
	clientAddr string // host:port
	peerURL    string
	cmd        *exec.Cmd
	out        *syncBuffer
	exited     chan struct{}
}

// cluster is an etcd cluster of real etcd processes (Debian's etcd-server)
// on loopback ports, stopped when the test ends.
type cluster struct {
	members []*member
}

// etcdBinary returns the etcd server's path, skipping the test (or failing
// it, under TINYPROF_REQUIRE_LAB) when it is not installed.
func etcdBinary(t testing.TB) string {
	t.Helper()
	path, err := exec.LookPath("etcd")
	if err != nil {
		if os.Getenv(envRequire) != "" {
			t.Fatalf("no etcd binary (%v) and %s is set: apt-get install -y --no-install-recommends etcd-server", err, envRequire)
		}
		t.Skip("no etcd binary: apt-get install -y --no-install-recommends etcd-server to run the etcd store's tests")
	}
	return path
}

// freePorts returns n distinct free loopback ports. They are free when
// returned; etcd binds them a moment later.
func freePorts(t testing.TB, n int) []int {
	t.Helper()
	var ports []int
	var lns []net.Listener
	for range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		lns = append(lns, ln)
		ports = append(ports, ln.Addr().(*net.TCPAddr).Port)
	}
	for _, ln := range lns {
		ln.Close()
	}
	return ports
}

// startCluster starts an n-member etcd cluster and waits until every
// member answers. Its timing (50 ms heartbeats, 500 ms elections) makes
// failover quick and allows TTLs down to 1 s.
func startCluster(t testing.TB, n int) *cluster {
	t.Helper()
	return startClusterTLS(t, n, nil)
}

// tlsFiles are the PEM files of a TLS setup: the CA, the members'
// certificate, and a client certificate the CA signed.
type tlsFiles struct {
	CA, ServerCert, ServerKey, ClientCert, ClientKey string
}

// startClusterTLS is startCluster, with members that serve clients over
// TLS and require a client certificate signed by tf.CA when tf is set.
func startClusterTLS(t testing.TB, n int, tf *tlsFiles) *cluster {
	t.Helper()
	scheme := "http://"
	var tlsArgs []string
	var clientTLS *tls.Config
	if tf != nil {
		scheme = "https://"
		tlsArgs = []string{"--cert-file", tf.ServerCert, "--key-file", tf.ServerKey, "--trusted-ca-file", tf.CA, "--client-cert-auth"}
		var err error
		clientTLS, err = Options{CAFile: tf.CA, CertFile: tf.ClientCert, KeyFile: tf.ClientKey}.tlsConfig()
		require.NoError(t, err)
	}
	bin := etcdBinary(t)
	ports := freePorts(t, 2*n)
	c := &cluster{}
	var initial []string
	for i := range n {
		m := &member{
			name:       fmt.Sprintf("m%d", i),
			clientAddr: fmt.Sprintf("127.0.0.1:%d", ports[2*i]),
			peerURL:    fmt.Sprintf("http://127.0.0.1:%d", ports[2*i+1]),
			out:        &syncBuffer{},
			exited:     make(chan struct{}),
		}
		c.members = append(c.members, m)
		initial = append(initial, m.name+"="+m.peerURL)
	}
	dir := t.TempDir()
	for _, m := range c.members {
		m.cmd = exec.Command(bin, append([]string{
			"--name", m.name,
			"--data-dir", filepath.Join(dir, m.name),
			"--listen-client-urls", scheme + m.clientAddr,
			"--advertise-client-urls", scheme + m.clientAddr,
			"--listen-peer-urls", m.peerURL,
			"--initial-advertise-peer-urls", m.peerURL,
			"--initial-cluster", strings.Join(initial, ","),
			"--initial-cluster-state", "new",
			"--initial-cluster-token", "tinyprof-test",
			"--heartbeat-interval", "50",
			"--election-timeout", "500",
			"--logger", "zap", "--log-outputs", "stderr", "--log-level", "warn",
		}, tlsArgs...)...)
		m.cmd.Stdout, m.cmd.Stderr = m.out, m.out
		require.NoError(t, m.cmd.Start(), "start etcd")
		go func() { m.cmd.Wait(); close(m.exited) }()
		t.Cleanup(func() {
			m.cmd.Process.Signal(syscall.SIGCONT) // a stopped member cannot die
			m.cmd.Process.Kill()
			<-m.exited
			if t.Failed() {
				t.Logf("etcd %s output:\n%s", m.name, m.out.String())
			}
		})
	}
	deadline := time.Now().Add(20 * time.Second)
	for _, m := range c.members {
		cl, err := clientv3.New(clientv3.Config{Endpoints: []string{m.clientAddr}, TLS: clientTLS, Logger: zap.NewNop()})
		require.NoError(t, err)
		for {
			ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
			_, err = cl.Get(ctx, "ready")
			cancel()
			if err == nil {
				break
			}
			select {
			case <-m.exited:
				cl.Close()
				t.Fatalf("etcd %s exited: %s", m.name, m.out.String())
			default:
			}
			if time.Now().After(deadline) {
				cl.Close()
				t.Fatalf("etcd %s not ready in 20s: %v\n%s", m.name, err, m.out.String())
			}
			time.Sleep(50 * time.Millisecond)
		}
		cl.Close()
	}
	return c
}

func (c *cluster) endpoints() []string {
	var out []string
	for _, m := range c.members {
		out = append(out, m.clientAddr)
	}
	return out
}

// leader returns the member that leads the cluster now.
func (c *cluster) leader(t testing.TB) *member {
	t.Helper()
	cl, err := clientv3.New(clientv3.Config{Endpoints: c.endpoints(), Logger: zap.NewNop()})
	require.NoError(t, err)
	defer cl.Close()
	for _, m := range c.members {
		ctx, cancel := context.WithTimeout(t.Context(), 2*time.Second)
		st, err := cl.Status(ctx, m.clientAddr)
		cancel()
		if err == nil && st.Leader == st.Header.MemberId {
			return m
		}
	}
	t.Fatal("no member leads the cluster")
	return nil
}

// kill ends the member with SIGKILL and waits for it to exit.
func (m *member) kill() {
	m.cmd.Process.Kill()
	<-m.exited
}

// newStore returns a store on endpoints for lab, closed when the test ends.
func newStore(t testing.TB, lab string, endpoints ...string) *Store {
	t.Helper()
	s, err := New(t.Context(), Options{Endpoints: endpoints, Lab: lab, TTL: testTTL, DialTimeout: 3 * time.Second})
	require.NoError(t, err)
	t.Cleanup(func() { s.Close() })
	return s
}

// syncBuffer is a bytes.Buffer that a process's output and a test may use
// at once.
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

// proxy forwards TCP connections to an etcd member until Cut, which
// severs every connection and refuses new ones: a client behind it is cut
// off from etcd while everyone else still reaches it.
type proxy struct {
	ln     net.Listener
	target string

	mu    sync.Mutex
	cut   bool
	conns map[net.Conn]bool
	wg    sync.WaitGroup
}

func startProxy(t testing.TB, target string) *proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	p := &proxy{ln: ln, target: target, conns: map[net.Conn]bool{}}
	p.wg.Add(1)
	go p.serve()
	t.Cleanup(func() {
		ln.Close()
		p.Cut()
		p.wg.Wait()
	})
	return p
}

func (p *proxy) addr() string { return p.ln.Addr().String() }

func (p *proxy) serve() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		if p.cut {
			p.mu.Unlock()
			c.Close()
			continue
		}
		up, err := net.Dial("tcp", p.target)
		if err != nil {
			p.mu.Unlock()
			c.Close()
			continue
		}
		p.conns[c], p.conns[up] = true, true
		p.mu.Unlock()
		p.wg.Add(2)
		go p.pipe(c, up)
		go p.pipe(up, c)
	}
}

func (p *proxy) pipe(dst, src net.Conn) {
	defer p.wg.Done()
	io.Copy(dst, src)
	dst.Close()
	src.Close()
}

// Cut severs every connection and refuses new ones until Restore.
func (p *proxy) Cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cut = true
	for c := range p.conns {
		c.Close()
	}
	clear(p.conns)
}

// Restore lets connections through again.
func (p *proxy) Restore() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cut = false
}
