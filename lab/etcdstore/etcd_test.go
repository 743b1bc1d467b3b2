package etcdstore

import (
	"context"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/tinyprof/tinyprof/lab/etcdstore/etcdtest"
)

// testTTL is the lease life in these tests: short, so that expiry is
// quick, above the minimum the members' timing below allows (1 s), and
// long enough that a loaded machine's stalls do not end leases.
const testTTL = 3 * time.Second

// leader returns the member that leads the cluster now.
func leader(t testing.TB, c *etcdtest.Cluster) *etcdtest.Server {
	t.Helper()
	cl, err := clientv3.New(clientv3.Config{Endpoints: c.Endpoints(), Logger: zap.NewNop()})
	require.NoError(t, err)
	defer cl.Close()
	for _, m := range c.Members {
		ctx, cancel := context.WithTimeout(t.Context(), 2*time.Second)
		st, err := cl.Status(ctx, m.Endpoint)
		cancel()
		if err == nil && st.Leader == st.Header.MemberId {
			return m
		}
	}
	t.Fatal("no member leads the cluster")
	return nil
}

// newStore returns a store on endpoints for lab, closed when the test ends.
func newStore(t testing.TB, lab string, endpoints ...string) *Store {
	t.Helper()
	s, err := New(t.Context(), Options{Endpoints: endpoints, Lab: lab, TTL: testTTL, DialTimeout: 3 * time.Second})
	require.NoError(t, err)
	t.Cleanup(func() { s.Close() })
	return s
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
