package etcdstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tinyprof/tinyprof/lab"
	"go.etcd.io/etcd/api/v3/mvccpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// maxKeys bounds what List reads: a lab with more keys than this is not
// one this package was written for, and reading it whole would be unbounded.
const maxKeys = 100000

// Store is a lab.Store in etcd (see the package documentation for its keys
// and guarantees). Its methods may be called concurrently; Close it when
// done.
type Store struct {
	c    *clientv3.Client
	opts Options

	mu   sync.Mutex
	held map[string]*Lease // by board id: the leases this store holds

	// calls and watches count the requests made to etcd (Requests).
	calls, watches atomic.Int64

	// sess is the etcd lease Acquire binds its keys to (see session);
	// waits numbers the Acquires, to name their keys.
	sessMu sync.Mutex
	sess   *grant
	waits  atomic.Int64
}

var _ lab.Store = (*Store)(nil)

// New connects to etcd. It checks the connection (and the credentials)
// with one read within opts.DialTimeout, so that a wrong address fails
// here, naming it, rather than in the first lease.
func New(ctx context.Context, opts Options) (*Store, error) {
	opts, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	tlsCfg, err := opts.tlsConfig()
	if err != nil {
		return nil, err
	}
	s := &Store{opts: opts, held: map[string]*Lease{}}
	count := func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, callOpts ...grpc.CallOption) error {
		s.calls.Add(1)
		return invoker(ctx, method, req, reply, cc, callOpts...)
	}
	c, err := clientv3.New(clientv3.Config{
		DialOptions: []grpc.DialOption{grpc.WithChainUnaryInterceptor(count)},
		Endpoints:   opts.Endpoints,
		DialTimeout: opts.DialTimeout,
		// gRPC pings find a dead connection so that requests move to
		// another member. etcd hangs up on a client that pings more
		// often than every 5 s (--grpc-keepalive-min-time), which cut
		// keep-alives off when this followed a short TTL.
		DialKeepAliveTime:    6 * time.Second,
		DialKeepAliveTimeout: 2 * time.Second,
		Username:             opts.Username,
		Password:             opts.Password,
		TLS:                  tlsCfg,
		Logger:               zap.NewNop(),
		Context:              context.WithoutCancel(ctx),
	})
	if err != nil {
		return nil, fmt.Errorf("etcdstore: connect to %s: %w", strings.Join(opts.Endpoints, ","), err)
	}
	s.c = c
	cctx, cancel := context.WithTimeout(ctx, opts.DialTimeout)
	defer cancel()
	if _, err := c.Get(cctx, s.prefix(), clientv3.WithPrefix(), clientv3.WithCountOnly()); err != nil {
		c.Close()
		return nil, errorf(err, "etcdstore: reach etcd at %s (is it running, and are the address and credentials right?)", strings.Join(opts.Endpoints, ","))
	}
	return s, nil
}

// Close releases every lease the store still holds and disconnects.
func (s *Store) Close() error {
	s.mu.Lock()
	var ls []*Lease
	for _, l := range s.held {
		ls = append(ls, l)
	}
	s.mu.Unlock()
	var errs []error
	for _, l := range ls {
		errs = append(errs, l.Release())
	}
	errs = append(errs, s.closeSession(), s.c.Close())
	return errors.Join(errs...)
}

// Requests reports how many requests this store has made to etcd: unary
// calls (reads, transactions, grants, keep-alives, revokes) and the
// watches it started. It is for measuring what a lease costs.
func (s *Store) Requests() int64 { return s.calls.Load() + s.watches.Load() }

// Client returns the store's etcd client, for tools that need more than
// the store offers. The store owns it: do not close it.
func (s *Store) Client() *clientv3.Client { return s.c }

// TTL is the lease life the store asks etcd for.
func (s *Store) TTL() time.Duration { return time.Duration(s.opts.ttlSeconds()) * time.Second }

func (s *Store) prefix() string       { return "/tinyprof/" + s.opts.Lab + "/" }
func (s *Store) boardsPrefix() string { return s.prefix() + "boards/" }
func (s *Store) boardPrefix(id string) string {
	return s.boardsPrefix() + url.PathEscape(id) + "/"
}
func (s *Store) queuePrefix(id string) string { return s.boardPrefix(id) + "lease/" }
func (s *Store) healthKey(id string) string   { return s.boardPrefix(id) + "health" }

// TryAcquire implements lab.Store: it takes board id's lease only if
// nobody holds it or waits for it.
func (s *Store) TryAcquire(ctx context.Context, id string, h lab.Holder) (func() error, error) {
	l, err := s.TryLease(ctx, id, h)
	if err != nil {
		return nil, err
	}
	return l.Release, nil
}

// Lost returns the Lost channel of the lease this store holds on board
// id, or nil if it holds none: what lab.Lab, which sees only release
// functions, watches to cancel a test whose board was lost.
func (s *Store) Lost(id string) <-chan struct{} {
	if l := s.holding(id); l != nil {
		return l.Lost()
	}
	return nil
}

// TryLease takes board id's lease for h if nobody holds it or waits for it;
// otherwise it fails at once with a *lab.HeldError naming the holder.
func (s *Store) TryLease(ctx context.Context, id string, h lab.Holder) (*Lease, error) {
	return s.lease(ctx, id, h, true)
}

// Lease takes board id's lease for h, waiting behind those who asked
// before until the board is free or ctx ends. Waiting costs no requests:
// the waiter watches the key just ahead of it.
func (s *Store) Lease(ctx context.Context, id string, h lab.Holder) (*Lease, error) {
	return s.lease(ctx, id, h, false)
}

func (s *Store) lease(ctx context.Context, id string, h lab.Holder, try bool) (*Lease, error) {
	if id == "" {
		return nil, errors.New("etcdstore: lease a board with an empty id")
	}
	rec, err := json.Marshal(h)
	if err != nil {
		return nil, err
	}
	qp := s.queuePrefix(id)
	if try {
		// Most refusals need no etcd lease at all.
		g, err := s.c.Get(ctx, qp, clientv3.WithFirstCreate()...)
		if err != nil {
			return nil, errorf(err, "lease board %s", id)
		}
		if len(g.Kvs) > 0 {
			return nil, &lab.HeldError{ID: id, Holder: holderOf(g.Kvs[0])}
		}
	}
	g, err := s.newGrant(ctx, "lease board "+id)
	if err != nil {
		return nil, err
	}
	defer g.end() // a no-op once a board lease is bound to it
	key := qp + keyName(g.id)

	// Joining the queue is retried after a timeout, so it must be
	// idempotent: the put is of our own key, and the revision is read
	// back as the key's creation revision, whichever attempt created it.
	put := clientv3.OpPut(key, string(rec), clientv3.WithLease(g.id))
	get := clientv3.OpGet(key)
	var tr *clientv3.TxnResponse
	var rev int64
	if try {
		// Put only if the queue is empty (a range compare holds for an
		// empty range when compared with the zero key), or if it is an
		// earlier attempt's put that is first in it.
		empty := clientv3.Compare(clientv3.CreateRevision(qp).WithPrefix(), "=", 0)
		err = s.retry(ctx, func(ctx context.Context) (err error) {
			tr, err = s.c.Txn(ctx).If(empty).Then(put, get).Else(clientv3.OpGet(qp, clientv3.WithFirstCreate()...)).Commit()
			return err
		})
		if err != nil {
			return nil, errorf(err, "lease board %s", id)
		}
		if !tr.Succeeded {
			kvs := tr.Responses[0].GetResponseRange().GetKvs()
			if len(kvs) == 0 || string(kvs[0].Key) != key {
				var holder *lab.Holder
				if len(kvs) > 0 {
					holder = holderOf(kvs[0])
				}
				return nil, &lab.HeldError{ID: id, Holder: holder}
			}
			rev = kvs[0].CreateRevision
		} else {
			rev = tr.Responses[1].GetResponseRange().GetKvs()[0].CreateRevision
		}
	} else {
		// The queue's head, read in the same transaction, saves a read
		// when the board is free.
		err = s.retry(ctx, func(ctx context.Context) (err error) {
			tr, err = s.c.Txn(ctx).Then(put, get, clientv3.OpGet(qp, clientv3.WithFirstCreate()...)).Commit()
			return err
		})
		if err != nil {
			return nil, errorf(err, "lease board %s", id)
		}
		rev = tr.Responses[1].GetResponseRange().GetKvs()[0].CreateRevision
		waited := false
		if head := tr.Responses[2].GetResponseRange().GetKvs(); len(head) == 0 || string(head[0].Key) != key {
			if waited, err = s.waitTurn(ctx, g, id, rev); err != nil {
				return nil, err
			}
		}
		if waited {
			// The record said since when it waited; say since when it holds.
			h.Since = time.Now()
			rec, _ = json.Marshal(h)
			mine := clientv3.Compare(clientv3.CreateRevision(key), "=", rev)
			err = s.retry(ctx, func(ctx context.Context) (err error) {
				tr, err = s.c.Txn(ctx).If(mine).Then(clientv3.OpPut(key, string(rec), clientv3.WithLease(g.id))).Commit()
				return err
			})
			if err != nil {
				return nil, errorf(err, "lease board %s", id)
			}
			if !tr.Succeeded {
				return nil, &LostError{ID: id, Reason: "it ended while waiting for the board"}
			}
		}
	}
	l := g.bind(id, key, rev, h)
	s.remember(l)
	return l, nil
}

// keyName is the name of a holder's or waiter's key in a board's queue:
// its etcd lease, so that every key one waiter puts is told apart from
// every other waiter's, and the same on a retried put.
func keyName(id clientv3.LeaseID) string { return fmt.Sprintf("%016x", int64(id)) }

func (s *Store) remember(l *Lease) {
	s.mu.Lock()
	s.held[l.ID] = l
	s.mu.Unlock()
}

// retry runs f until it succeeds, fails for good, or ctx ends, each
// attempt bounded by a timeout well under the TTL. An etcd member that
// lost its leader holds a proposal until its own request timeout (5 s
// and two election timeouts); asking again, possibly of another member,
// gets through as soon as a new leader is elected.
func (s *Store) retry(ctx context.Context, f func(ctx context.Context) error) error {
	timeout := min(max(s.TTL()/2, 500*time.Millisecond), 2*time.Second)
	for {
		actx, cancel := context.WithTimeout(ctx, timeout)
		err := f(actx)
		cancel()
		if err == nil || ctx.Err() != nil || s.c.Ctx().Err() != nil || !transient(err) {
			if ctx.Err() != nil && err != nil {
				return fmt.Errorf("%w (last error: %v)", ctx.Err(), err)
			}
			return err
		}
		t := time.NewTimer(50 * time.Millisecond)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("%w (last error: %v)", ctx.Err(), err)
		case <-t.C:
		}
	}
}

// transient reports whether err may go away by itself: a member without
// a leader, a connection being re-established, an attempt timed out.
func transient(err error) bool {
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		return true
	}
	var ee rpctypes.EtcdError
	if errors.As(err, &ee) {
		return ee.Code() == codes.Unavailable || ee.Code() == codes.DeadlineExceeded
	}
	switch status.Code(err) {
	case codes.Unavailable, codes.DeadlineExceeded, codes.Canceled:
		return true
	}
	return false
}

// waitTurn waits until no key older than rev is left in board id's
// queue, watching the youngest of them for its deletion. It reports
// whether it had to wait.
func (s *Store) waitTurn(ctx context.Context, g *grant, id string, rev int64) (bool, error) {
	qp := s.queuePrefix(id)
	waited := false
	for {
		r, err := s.c.Get(ctx, qp, append(clientv3.WithLastCreate(), clientv3.WithMaxCreateRev(rev-1))...)
		if err != nil {
			return waited, s.waitError(ctx, id, err)
		}
		if len(r.Kvs) == 0 {
			return waited, nil
		}
		waited = true
		if err := s.waitDeleted(ctx, g, id, string(r.Kvs[0].Key), r.Header.Revision+1); err != nil {
			return waited, err
		}
	}
}

func (s *Store) waitDeleted(ctx context.Context, g *grant, id, key string, from int64) error {
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	s.watches.Add(1)
	wch := s.c.Watch(clientv3.WithRequireLeader(wctx), key, clientv3.WithRev(from))
	for {
		select {
		case <-g.lost:
			return &LostError{ID: id, Reason: g.reason}
		case resp, ok := <-wch:
			if !ok || resp.Err() != nil {
				// Cancelled, compacted or no leader: the caller reads
				// the queue again, unless ctx is done.
				if ctx.Err() != nil {
					return s.waitError(ctx, id, ctx.Err())
				}
				return nil
			}
			for _, ev := range resp.Events {
				if ev.Type == mvccpb.DELETE {
					return nil
				}
			}
		}
	}
}

func (s *Store) waitError(ctx context.Context, id string, err error) error {
	if ctx.Err() != nil {
		return fmt.Errorf("lease board %s: gave up waiting: %w", id, ctx.Err())
	}
	return errorf(err, "lease board %s", id)
}

func (s *Store) holding(id string) *Lease {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.held[id]
}

func (s *Store) forget(l *Lease) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.held[l.ID] == l {
		delete(s.held, l.ID)
	}
}

// SetHealth implements lab.Store. The caller must hold board id's lease
// through this store. The record is written only if that lease's key
// still exists with its revision: otherwise the error is a *FenceError,
// and the successor's record stands.
func (s *Store) SetHealth(ctx context.Context, id string, h lab.Health) error {
	l := s.holding(id)
	if l == nil {
		return fmt.Errorf("record health of board %s: %w by this process (lease it first)", id, ErrNotHeld)
	}
	return s.setHealth(ctx, l, h)
}

// SetHealth records the board's health under this lease, as
// Store.SetHealth does: refused with a *FenceError once the lease ended.
func (l *Lease) SetHealth(ctx context.Context, h lab.Health) error {
	return l.store.setHealth(ctx, l, h)
}

func (s *Store) setHealth(ctx context.Context, l *Lease, h lab.Health) error {
	data, err := json.Marshal(h)
	if err != nil {
		return err
	}
	mine := clientv3.Compare(clientv3.CreateRevision(l.Key), "=", l.Revision)
	tr, err := s.c.Txn(ctx).If(mine).Then(clientv3.OpPut(s.healthKey(l.ID), string(data))).Commit()
	if err != nil {
		return errorf(err, "record health of board %s", l.ID)
	}
	if !tr.Succeeded {
		return &FenceError{ID: l.ID, Key: l.Key, Revision: l.Revision}
	}
	return nil
}

// QueueEntry is one holder or waiter in a board's queue.
type QueueEntry struct {
	Holder   *lab.Holder // nil if its record is unreadable
	Revision int64       // when it joined: the queue's order
}

// Queue reports board id's holder and waiters, in the order they are
// served: the first, if any, holds the board.
func (s *Store) Queue(ctx context.Context, id string) ([]QueueEntry, error) {
	g, err := s.c.Get(ctx, s.queuePrefix(id), clientv3.WithPrefix(),
		clientv3.WithSort(clientv3.SortByCreateRevision, clientv3.SortAscend), clientv3.WithLimit(maxKeys))
	if err != nil {
		return nil, errorf(err, "read the queue of board %s", id)
	}
	var out []QueueEntry
	for _, kv := range g.Kvs {
		out = append(out, QueueEntry{Holder: holderOf(kv), Revision: kv.CreateRevision})
	}
	return out, nil
}

// Inspect implements lab.Store.
func (s *Store) Inspect(ctx context.Context, id string) (lab.LeaseInfo, error) {
	g, err := s.c.Get(ctx, s.boardPrefix(id), clientv3.WithPrefix(), clientv3.WithLimit(maxKeys))
	if err != nil {
		return lab.LeaseInfo{ID: id}, errorf(err, "inspect board %s", id)
	}
	infos, err := s.collect(g.Kvs)
	if err != nil || len(infos) == 0 {
		return lab.LeaseInfo{ID: id}, err
	}
	return infos[0], nil
}

// List implements lab.Store.
func (s *Store) List(ctx context.Context) ([]lab.LeaseInfo, error) {
	g, err := s.c.Get(ctx, s.boardsPrefix(), clientv3.WithPrefix(), clientv3.WithLimit(maxKeys+1))
	if err != nil {
		return nil, errorf(err, "list the lab's boards")
	}
	if len(g.Kvs) > maxKeys {
		return nil, fmt.Errorf("list the lab's boards: more than %d keys under %s", maxKeys, s.boardsPrefix())
	}
	return s.collect(g.Kvs)
}

// collect folds board keys into one LeaseInfo per board, sorted by id.
func (s *Store) collect(kvs []*mvccpb.KeyValue) ([]lab.LeaseInfo, error) {
	type board struct {
		li    lab.LeaseInfo
		first int64 // creation revision of the holder's key
	}
	byID := map[string]*board{}
	for _, kv := range kvs {
		rest, ok := strings.CutPrefix(string(kv.Key), s.boardsPrefix())
		if !ok {
			continue
		}
		esc, sub, _ := strings.Cut(rest, "/")
		id, err := url.PathUnescape(esc)
		if err != nil {
			continue // not a key this package wrote
		}
		b := byID[id]
		if b == nil {
			b = &board{li: lab.LeaseInfo{ID: id}}
			byID[id] = b
		}
		switch {
		case sub == "health":
			if err := json.Unmarshal(kv.Value, &b.li.Health); err != nil {
				return nil, fmt.Errorf("health record %s is corrupt (etcdctl del it to clear it): %w", kv.Key, err)
			}
		case strings.HasPrefix(sub, "lease/"):
			if !b.li.Held || kv.CreateRevision < b.first {
				b.li.Held, b.first, b.li.Holder = true, kv.CreateRevision, holderOf(kv)
			}
		}
	}
	out := make([]lab.LeaseInfo, 0, len(byID))
	for _, b := range byID {
		out = append(out, b.li)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, nil
}

func holderOf(kv *mvccpb.KeyValue) *lab.Holder {
	var h lab.Holder
	if json.Unmarshal(kv.Value, &h) != nil {
		return nil
	}
	return &h
}

// errorf wraps an etcd client error with what was being done.
func errorf(err error, format string, args ...any) error {
	return fmt.Errorf(format+": %w", append(args, err)...)
}
