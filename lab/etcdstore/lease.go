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
	// life.
	LeaseID clientv3.LeaseID
	TTL     time.Duration

	store  *Store
	cancel context.CancelFunc // stops the keep-alive and the watch
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

func (l *Lease) markLost(reason string) {
	l.lostOnce.Do(func() {
		l.err = &LostError{ID: l.ID, Reason: reason}
		l.lostAt = time.Now()
		close(l.lost)
	})
}

// Release ends the lease: it revokes the etcd lease, which deletes the key
// and wakes the next waiter, and stops keeping it alive. If etcd cannot be
// reached, the lease ends when its TTL runs out. It is safe to call more
// than once; later calls return the first one's error.
func (l *Lease) Release() error {
	l.relOnce.Do(func() {
		l.cancel()
		l.wg.Wait()
		l.store.forget(l)
		ctx, cancel := context.WithTimeout(context.Background(), l.store.opts.DialTimeout)
		defer cancel()
		_, err := l.store.c.Revoke(ctx, l.LeaseID)
		if err != nil && !errors.Is(err, rpctypes.ErrLeaseNotFound) {
			l.relErr = errorf(err, "release board %s (the lease ends within %v anyway)", l.ID, l.TTL)
		}
	})
	return l.relErr
}

// keepAlive renews the etcd lease every third of its TTL until ctx ends.
// deadline is when the lease may end at the latest if no renewal is
// answered: the time the grant (then each renewal) was sent, plus the TTL
// etcd answered with. Passing it means the holder must assume the board is
// gone.
func (l *Lease) keepAlive(ctx context.Context, deadline time.Time) {
	defer l.wg.Done()
	every := l.TTL / 3
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
			l.markLost("no keep-alive answered for " + l.TTL.String() + ": cut off from etcd")
			return
		}
		sent := time.Now()
		kctx, cancel := context.WithDeadline(ctx, deadline)
		resp, err := l.store.c.KeepAliveOnce(kctx, l.LeaseID)
		cancel()
		switch {
		case ctx.Err() != nil:
			return
		case errors.Is(err, rpctypes.ErrLeaseNotFound):
			l.markLost("etcd reports the lease expired or revoked")
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
