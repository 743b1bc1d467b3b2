package etcdstore

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"time"

	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/tinyprof/tinyprof/lab"
)

// MaxCandidates bounds the boards one Acquire waits for: a waiter joins
// every board's queue, and reads each queue's head, in one transaction,
// so that all its keys share one revision (see Acquire), and etcd refuses
// a transaction of more than 128 operations by default (--max-txn-ops).
// Acquire waits for the first MaxCandidates of a longer list.
const MaxCandidates = 63

var _ lab.Acquirer = (*Store)(nil)

// Acquire implements lab.Acquirer: it waits until n of the boards ids are
// free for h, in order of arrival, and takes them. lab.Lab uses it
// instead of trying and backing off.
//
// The waiter joins the queue of every board in ids in one transaction,
// with keys bound to the store's session (one etcd lease for all the
// store's Acquires, kept alive until Close, so that a lease costs no grant
// and no revoke), so that all its keys have the same creation revision: waiters are ordered alike in every queue. It holds a
// board once no older key is left in that board's queue, and waits with
// one watch on the lab's boards, reading a board's queue again only when
// the key just ahead of it there is deleted. Once it holds n boards it
// leaves the other queues. A waiter waits only for older keys, so two
// waiters that each want several boards cannot deadlock, and a waiter
// that wants any one of many boards is served by the first that is free
// for it. Uncontended, a lease costs one transaction (two when it leaves
// other queues), a delete to release it, and a watch of the held key
// while it is held. If the session ends (the process was cut off from
// etcd for a TTL), every board it holds is lost and the next Acquire
// opens a new session.
func (s *Store) Acquire(ctx context.Context, ids []string, n int, h lab.Holder) ([]lab.Held, error) {
	ids = distinct(ids)
	if len(ids) > MaxCandidates {
		ids = ids[:MaxCandidates]
	}
	if n < 1 || n > len(ids) {
		return nil, fmt.Errorf("etcdstore: acquire %d of %d boards", n, len(ids))
	}
	what := fmt.Sprintf("lease %d of boards %v", n, short(ids))
	rec, err := json.Marshal(h)
	if err != nil {
		return nil, err
	}
	g, err := s.session(ctx)
	if err != nil {
		return nil, err
	}
	// Keys are named for the session and this wait, so that two waits
	// of one store never share a key.
	name := fmt.Sprintf("%s-%x", keyName(g.id), s.waits.Add(1))
	key := func(id string) string { return s.queuePrefix(id) + name }
	if n == 1 {
		l, err := s.takeFree(ctx, g, ids, key, string(rec), h)
		if err != nil {
			return nil, errorf(err, "%s", what)
		}
		if l != nil {
			return []lab.Held{l}, nil
		}
	}
	ok := false
	defer func() {
		if !ok {
			// Leave every queue joined; if etcd cannot be reached, the
			// keys go with the session when its TTL runs out.
			ops := make([]clientv3.Op, len(ids))
			for i, id := range ids {
				ops[i] = clientv3.OpDelete(key(id))
			}
			dctx, cancel := context.WithTimeout(context.Background(), s.opts.DialTimeout)
			s.c.Txn(dctx).Then(ops...).Commit()
			cancel()
		}
	}()

	// One transaction joins every queue, reads back the creation
	// revision (a retried transaction must not move the waiter back in
	// line) and reads each queue's head: when the waiter heads n queues
	// already, the lease costs no more reads.
	ops := make([]clientv3.Op, 0, 2*len(ids)+1)
	for _, id := range ids {
		ops = append(ops, clientv3.OpPut(key(id), string(rec), clientv3.WithLease(g.id)))
	}
	ops = append(ops, clientv3.OpGet(key(ids[0])))
	for _, id := range ids {
		ops = append(ops, clientv3.OpGet(s.queuePrefix(id), append(clientv3.WithFirstCreate(), clientv3.WithKeysOnly())...))
	}
	var tr *clientv3.TxnResponse
	err = s.retry(ctx, func(ctx context.Context) (err error) {
		tr, err = s.c.Txn(ctx).Then(ops...).Commit()
		return err
	})
	if err != nil {
		return nil, errorf(err, "%s: join the queues", what)
	}
	kvs := tr.Responses[len(ids)].GetResponseRange().GetKvs()
	if len(kvs) == 0 {
		return nil, &LostError{ID: ids[0], Reason: "its etcd lease ended as it joined the queue"}
	}
	rev := kvs[0].CreateRevision
	var free []string
	for i, id := range ids {
		if head := tr.Responses[len(ids)+1+i].GetResponseRange().GetKvs(); len(head) > 0 && string(head[0].Key) == key(id) {
			free = append(free, id)
		}
	}
	waited := len(free) < n
	if waited {
		if free, err = s.waitFree(ctx, g, ids, n, rev); err != nil {
			return nil, err
		}
	}
	take := free[:n]
	// Leave the other queues and, after a wait, say since when it holds
	// the boards, in one transaction that holds only if every key taken
	// is still ours. A waiter that wanted exactly the boards it heads
	// needs none.
	taken := map[string]bool{}
	var cmps []clientv3.Cmp
	var then []clientv3.Op
	if waited {
		h.Since = time.Now()
		rec, _ = json.Marshal(h)
	}
	for _, id := range take {
		taken[id] = true
		cmps = append(cmps, clientv3.Compare(clientv3.CreateRevision(key(id)), "=", rev))
		if waited {
			then = append(then, clientv3.OpPut(key(id), string(rec), clientv3.WithLease(g.id)))
		}
	}
	for _, id := range ids {
		if !taken[id] {
			then = append(then, clientv3.OpDelete(key(id)))
		}
	}
	if len(then) > 0 {
		err = s.retry(ctx, func(ctx context.Context) (err error) {
			tr, err = s.c.Txn(ctx).If(cmps...).Then(then...).Commit()
			return err
		})
		if err != nil {
			return nil, errorf(err, "%s: take the boards", what)
		}
		if !tr.Succeeded {
			return nil, &LostError{ID: take[0], Reason: "its etcd lease ended while it waited for the board"}
		}
	}
	out := make([]lab.Held, 0, n)
	for _, id := range take {
		l := g.bind(id, key(id), rev, h)
		s.remember(l)
		out = append(out, l)
	}
	ok = true
	return out, nil
}

// takeFree is Acquire's fast path for one board of many: it counts the
// candidates' queues in one read and claims a board whose queue is empty
// with a transaction that holds only while it still is. Nobody waits for
// such a board (a waiter for it would have a key in its queue), so taking
// it passes over no one, and it costs no writes to the other queues. It
// returns nil, and no error, when no queue is empty or every claim lost a
// race; Acquire then joins the queues.
func (s *Store) takeFree(ctx context.Context, g *grant, ids []string, key func(string) string, rec string, h lab.Holder) (*Lease, error) {
	ops := make([]clientv3.Op, len(ids))
	for i, id := range ids {
		ops[i] = clientv3.OpGet(s.queuePrefix(id), clientv3.WithPrefix(), clientv3.WithCountOnly())
	}
	var tr *clientv3.TxnResponse
	err := s.retry(ctx, func(ctx context.Context) (err error) {
		tr, err = s.c.Txn(ctx).Then(ops...).Commit()
		return err
	})
	if err != nil {
		return nil, err
	}
	var empty []string
	for i, id := range ids {
		if tr.Responses[i].GetResponseRange().GetCount() == 0 {
			empty = append(empty, id)
		}
	}
	// Waiters that arrive together start at different boards.
	start := rand.IntN(max(len(empty), 1))
	for k := range min(len(empty), 3) {
		id := empty[(start+k)%len(empty)]
		qp, mine := s.queuePrefix(id), key(id)
		var claim *clientv3.TxnResponse
		err := s.retry(ctx, func(ctx context.Context) (err error) {
			// Else reads our own key: a retried claim whose first
			// attempt landed finds the queue holding only us.
			claim, err = s.c.Txn(ctx).
				If(clientv3.Compare(clientv3.CreateRevision(qp), "=", 0).WithPrefix()).
				Then(clientv3.OpPut(mine, rec, clientv3.WithLease(g.id)), clientv3.OpGet(mine)).
				Else(clientv3.OpGet(mine)).Commit()
			return err
		})
		if err != nil {
			return nil, err
		}
		got := claim.Responses[len(claim.Responses)-1].GetResponseRange().GetKvs()
		if len(got) == 0 {
			continue // someone came first
		}
		l := g.bind(id, mine, got[0].CreateRevision, h)
		s.remember(l)
		return l, nil
	}
	return nil, nil
}

// waitFree waits until at least n of the boards ids have no key older
// than rev in their queues, and returns those boards in the order of ids.
func (s *Store) waitFree(ctx context.Context, g *grant, ids []string, n int, rev int64) ([]string, error) {
	// ahead maps the key just ahead of the waiter in a board's queue to
	// the board; a board with none is free for the waiter.
	ahead := map[string]string{}
	isFree := map[string]bool{}
	read := func(which []string) (int64, error) {
		ops := make([]clientv3.Op, len(which))
		for i, id := range which {
			ops[i] = clientv3.OpGet(s.queuePrefix(id), append(clientv3.WithLastCreate(),
				clientv3.WithMaxCreateRev(rev-1), clientv3.WithKeysOnly())...)
		}
		var tr *clientv3.TxnResponse
		err := s.retry(ctx, func(ctx context.Context) (err error) {
			tr, err = s.c.Txn(ctx).Then(ops...).Commit()
			return err
		})
		if err != nil {
			return 0, s.waitError(ctx, which[0], err)
		}
		for i, id := range which {
			if kvs := tr.Responses[i].GetResponseRange().GetKvs(); len(kvs) > 0 {
				ahead[string(kvs[0].Key)] = id
			} else {
				isFree[id] = true
			}
		}
		return tr.Header.Revision, nil
	}
	from, err := read(ids)
	if err != nil {
		return nil, err
	}
	var recheck []string
	for len(isFree) < n {
		wctx, cancel := context.WithCancel(ctx)
		s.watches.Add(1)
		wch := s.c.Watch(clientv3.WithRequireLeader(wctx), s.boardsPrefix(), clientv3.WithPrefix(),
			clientv3.WithRev(from+1), clientv3.WithFilterPut())
		broken := false
		for len(isFree) < n && !broken {
			select {
			case <-ctx.Done():
				cancel()
				return nil, s.waitError(ctx, ids[0], ctx.Err())
			case <-g.lost:
				cancel()
				return nil, &LostError{ID: ids[0], Reason: g.reason}
			case resp, ok := <-wch:
				if !ok || resp.Err() != nil {
					// No leader, compacted, cancelled: read every queue
					// still waited on, and watch again from there.
					broken = true
					recheck = recheck[:0]
					for k, id := range ahead {
						delete(ahead, k)
						recheck = append(recheck, id)
					}
					break
				}
				recheck = recheck[:0]
				for _, ev := range resp.Events {
					if ev.Type != mvccpb.DELETE {
						continue
					}
					if id, ok := ahead[string(ev.Kv.Key)]; ok {
						delete(ahead, string(ev.Kv.Key))
						recheck = append(recheck, id)
					}
				}
				if len(recheck) > 0 {
					if _, err := read(recheck); err != nil {
						cancel()
						return nil, err
					}
				}
			}
		}
		cancel()
		if broken {
			if ctx.Err() != nil {
				return nil, s.waitError(ctx, ids[0], ctx.Err())
			}
			if from, err = read(recheck); err != nil {
				return nil, err
			}
		}
	}
	var out []string
	for _, id := range ids {
		if isFree[id] {
			out = append(out, id)
		}
	}
	return out, nil
}

func distinct(ids []string) []string {
	seen := map[string]bool{}
	out := make([]string, 0, len(ids))
	for _, id := range ids {
		if !seen[id] {
			seen[id] = true
			out = append(out, id)
		}
	}
	return out
}

// short lists at most three ids, for messages.
func short(ids []string) string {
	if len(ids) <= 3 {
		return fmt.Sprint(ids)
	}
	return fmt.Sprintf("%v and %d more", ids[:3], len(ids)-3)
}
