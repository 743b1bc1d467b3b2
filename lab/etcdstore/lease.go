package etcdstore

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/tinyprof/tinyprof/lab"
	"go.etcd.io/etcd/api/v3/mvccpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// Lease is one board's lease, held (or, inside Store.Lease, waited for)
// by this process. Its methods may be called concurrently. The holder must
// call Release, and should stop using the board as soon as Lost is closed.
type Lease struct {
	// ID is the board's id.
	ID string
	// Holder is the holder record stored with the lease.
	Holder lab.Holder
	// Key is the lease's etcd key, and Revision its creation revision:
	// the fencing token SetHealth checks.
	Key      string
	Revision int64
	// LeaseID is the etcd lease the key is bound to, and TTL its granted
	// life. The boards one Store.Acquire took share one etcd lease.
	LeaseID clientv3.LeaseID
	TTL     time.Duration

	store  *Store
	grant  *grant
	cancel context.CancelFunc // stops the watch of the key
	wg     sync.WaitGroup

	lostOnce sync.Once
	lost     chan struct{}
	err      error     // set before lost is closed
	lostAt   time.Time // set before lost is closed

	relOnce sync.Once
	relErr  error
}

// Lost returns a channel that is closed when the lease ends while held:
// etcd reports it expired or revoked, its key was deleted, or no
// keep-alive was answered for a whole TTL (the holder is cut off from
// etcd, and the board is about to be, or already is, someone else's). A
// test holding the board should be cancelled then and its failure
// reported as an infrastructure one; Err says why. Release does not close
// it.
func (l *Lease) Lost() <-chan struct{} { return l.lost }

// Err returns nil while the lease is held, and a *LostError (matching
// ErrLost) once Lost is closed.
func (l *Lease) Err() error {
	select {
	case <-l.lost:
		return l.err
	default:
		return nil
	}
}

// Board returns the board's id; with Lost, Err and Release it makes a
// Lease a lab.Held.
func (l *Lease) Board() string { return l.ID }

func (l *Lease) markLost(reason string) {
	l.lostOnce.Do(func() {
		l.err = &LostError{ID: l.ID, Reason: reason}
		l.lostAt = time.Now()
		close(l.lost)
	})
}

// Release ends the lease: it deletes the key, which wakes the next
// waiter, and — once no board of its etcd lease is held any more, unless
// that lease is the store's session (Store.Acquire's), which lives until
// Store.Close — revokes the etcd lease and stops keeping it alive. If etcd cannot be
// reached, the lease ends when its TTL runs out. It is safe to call more
// than once; later calls return the first one's error.
func (l *Lease) Release() error {
	l.relOnce.Do(func() {
		l.cancel()
		l.wg.Wait()
		l.store.forget(l)
		l.relErr = l.grant.drop(l)
	})
	return l.relErr
}

// grant is one etcd lease and the keep-alive that renews it, shared by
// the board leases bound to it: a waiter's keys in every queue it joined,
// then the boards it took.
type grant struct {
	store *Store
	id    clientv3.LeaseID
	ttl   time.Duration

	cancel context.CancelFunc // stops the keep-alive
	wg     sync.WaitGroup

	// session marks the store's session: it outlives its board leases
	// and is revoked only by Store.Close.
	session bool

	mu     sync.Mutex
	leases map[*Lease]bool // the board leases still bound to it
	lost   chan struct{}   // closed when the etcd lease is gone
	reason string          // why, set before lost is closed
	ended  bool            // revoked, or given up by its last lease
}

// newGrant asks etcd for a lease of the store's TTL and starts keeping it
// alive. The caller must end it: drop each board lease bound to it, or
// revoke it if it has none.
func (s *Store) newGrant(ctx context.Context, what string) (*grant, error) {
	var gr *clientv3.LeaseGrantResponse
	var sent time.Time
	err := s.retry(ctx, func(ctx context.Context) (err error) {
		sent = time.Now()
		gr, err = s.c.Grant(ctx, s.opts.ttlSeconds())
		return err
	})
	if err != nil {
		return nil, errorf(err, "%s: grant an etcd lease", what)
	}
	kctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	g := &grant{store: s, id: gr.ID, ttl: time.Duration(gr.TTL) * time.Second, cancel: cancel,
		leases: map[*Lease]bool{}, lost: make(chan struct{})}
	g.wg.Add(1)
	go g.keepAlive(kctx, sent.Add(g.ttl))
	return g, nil
}

// bind makes a board lease for key, created at rev, on g, and starts
// watching its key.
func (g *grant) bind(id, key string, rev int64, h lab.Holder) *Lease {
	wctx, cancel := context.WithCancel(context.Background())
	l := &Lease{ID: id, Holder: h, Key: key, Revision: rev, LeaseID: g.id, TTL: g.ttl,
		store: g.store, grant: g, cancel: cancel, lost: make(chan struct{})}
	g.mu.Lock()
	g.leases[l] = true
	if g.reason != "" {
		l.markLost(g.reason)
	}
	g.mu.Unlock()
	l.wg.Add(1)
	go l.watchKey(wctx)
	return l
}

// lose marks the etcd lease, and every board lease bound to it, lost.
func (g *grant) lose(reason string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.reason != "" {
		return
	}
	g.reason = reason
	close(g.lost)
	for l := range g.leases {
		l.markLost(reason)
	}
}

// drop unbinds l. The last lease to go revokes the etcd lease, which
// deletes every key still bound to it; the others delete their own key.
func (g *grant) drop(l *Lease) error {
	g.mu.Lock()
	delete(g.leases, l)
	last := len(g.leases) == 0 && !g.ended && !g.session
	if last {
		g.ended = true
	}
	g.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), g.store.opts.DialTimeout)
	defer cancel()
	if !last {
		if _, err := g.store.c.Delete(ctx, l.Key); err != nil {
			return errorf(err, "release board %s (the lease ends within %v of its holder's exit anyway)", l.ID, l.TTL)
		}
		return nil
	}
	return g.revoke(ctx, "release board "+l.ID)
}

// end revokes g if no board lease was ever bound to it (a wait that
// failed or was given up).
func (g *grant) end() error {
	g.mu.Lock()
	if len(g.leases) > 0 || g.ended || g.session {
		g.mu.Unlock()
		return nil
	}
	g.ended = true
	g.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), g.store.opts.DialTimeout)
	defer cancel()
	return g.revoke(ctx, "leave the queue")
}

func (g *grant) revoke(ctx context.Context, what string) error {
	g.cancel()
	g.wg.Wait()
	_, err := g.store.c.Revoke(ctx, g.id)
	if err != nil && !errors.Is(err, rpctypes.ErrLeaseNotFound) {
		return errorf(err, "%s (the lease ends within %v anyway)", what, g.ttl)
	}
	return nil
}

// keepAlive renews the etcd lease every third of its TTL until ctx ends.
// deadline is when the lease may end at the latest if no renewal is
// answered: the time the grant (then each renewal) was sent, plus the TTL
// etcd answered with. Passing it means the holder must assume the board is
// gone.
func (g *grant) keepAlive(ctx context.Context, deadline time.Time) {
	defer g.wg.Done()
	every := g.ttl / 3
	retry := min(every, 200*time.Millisecond)
	wait := every
	for {
		t := time.NewTimer(min(wait, time.Until(deadline)))
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		if !time.Now().Before(deadline) {
			g.lose("no keep-alive answered for " + g.ttl.String() + ": cut off from etcd")
			return
		}
		sent := time.Now()
		kctx, cancel := context.WithDeadline(ctx, deadline)
		resp, err := g.store.c.KeepAliveOnce(kctx, g.id)
		cancel()
		switch {
		case ctx.Err() != nil:
			return
		case errors.Is(err, rpctypes.ErrLeaseNotFound):
			g.lose("etcd reports the lease expired or revoked")
			return
		case err != nil:
			wait = retry // try again until the deadline
		default:
			deadline = sent.Add(time.Duration(resp.TTL) * time.Second)
			wait = every
		}
	}
}

// watchKey marks the lease lost when its key is deleted: revoked by an
// operator, or expired while this process was not looking.
func (l *Lease) watchKey(ctx context.Context) {
	defer l.wg.Done()
	from := l.Revision + 1
	for ctx.Err() == nil {
		l.store.watches.Add(1)
		wch := l.store.c.Watch(clientv3.WithRequireLeader(ctx), l.Key, clientv3.WithRev(from))
		for resp := range wch {
			for _, ev := range resp.Events {
				from = ev.Kv.ModRevision + 1
				if ev.Type == mvccpb.DELETE {
					l.markLost("its key was deleted (the lease expired or was revoked)")
					return
				}
			}
			if resp.CompactRevision != 0 {
				// History was compacted past our key's events: read it now.
				g, err := l.store.c.Get(ctx, l.Key)
				if err == nil && (len(g.Kvs) == 0 || g.Kvs[0].CreateRevision != l.Revision) {
					l.markLost("its key is gone (the lease expired or was revoked)")
					return
				}
				if err == nil {
					from = g.Header.Revision + 1
				}
			}
		}
		// The watch ended (no leader, connection lost): the keep-alive
		// deadline covers a cut-off; start watching again shortly.
		t := time.NewTimer(100 * time.Millisecond)
		select {
		case <-ctx.Done():
			t.Stop()
		case <-t.C:
		}
	}
}

// session returns the store's session, the etcd lease Acquire binds its
// keys to, granting a new one if there is none or the last one was lost.
func (s *Store) session(ctx context.Context) (*grant, error) {
	s.sessMu.Lock()
	defer s.sessMu.Unlock()
	if s.sess != nil {
		select {
		case <-s.sess.lost:
			s.sess.cancel()
			s.sess.wg.Wait()
			s.sess = nil
		default:
			return s.sess, nil
		}
	}
	g, err := s.newGrant(ctx, "open a session")
	if err != nil {
		return nil, err
	}
	g.session = true
	s.sess = g
	return g, nil
}

// closeSession revokes the store's session, if it has one: every key
// bound to it goes.
func (s *Store) closeSession() error {
	s.sessMu.Lock()
	defer s.sessMu.Unlock()
	if s.sess == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), s.opts.DialTimeout)
	defer cancel()
	err := s.sess.revoke(ctx, "end the session")
	s.sess = nil
	return err
}
