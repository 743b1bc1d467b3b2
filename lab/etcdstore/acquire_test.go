package etcdstore

import (
	"context"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/stretchr/testify/require"

	"github.com/tinyprof/tinyprof/lab"
	"github.com/tinyprof/tinyprof/lab/etcdstore/etcdtest"
)

// boardsOf returns the ids of held boards.
func boardsOf(hs []lab.Held) []string {
	var ids []string
	for _, h := range hs {
		ids = append(ids, h.Board())
	}
	return ids
}

// Acquire serves waiters for overlapping boards in order of arrival, takes
// the first boards free for the waiter, leaves the other queues, and
// never deadlocks two waiters that each want two boards.
func TestAcquireAnyInArrivalOrder(t *testing.T) {
	c := etcdtest.StartCluster(t, 1, nil)
	s := newStore(t, "any", c.Endpoints()...)
	ctx := t.Context()

	// a holds b1 and b2; waiters for any of them queue behind.
	a, err := s.Acquire(ctx, []string{"b1", "b2", "b3"}, 2, holder("a"))
	require.NoError(t, err)
	require.Empty(t, cmp.Diff([]string{"b1", "b2"}, boardsOf(a)), "(-want +got)")
	q, err := s.Queue(ctx, "b3")
	require.NoError(t, err)
	require.Empty(t, q, "a left the queue of the board it did not take")

	// b3 is free: one waiter for any board takes it at once.
	c3, err := s.Acquire(ctx, []string{"b1", "b2", "b3"}, 1, holder("c3"))
	require.NoError(t, err)
	require.Empty(t, cmp.Diff([]string{"b3"}, boardsOf(c3)), "(-want +got)")

	// Three waiters, in order: w1 wants both b1 and b2, w2 any of b1,b2,
	// w3 b2 only. Releasing b2 then b1 must serve w1 first (both), then
	// w2 and w3.
	type result struct {
		name string
		ids  []string
		hs   []lab.Held
		err  error
	}
	results := make(chan result, 3)
	start := func(name string, ids []string, n int) {
		go func() {
			hs, err := s.Acquire(ctx, ids, n, holder(name))
			results <- result{name, boardsOf(hs), hs, err}
		}()
		// Wait until its keys are in line, so that arrival order is known.
		require.Eventually(t, func() bool {
			q, err := s.Queue(ctx, ids[0])
			return err == nil && len(q) > 0 && q[len(q)-1].Holder != nil && q[len(q)-1].Holder.Test == name
		}, 10*time.Second, 5*time.Millisecond)
	}
	start("w1", []string{"b1", "b2"}, 2)
	start("w2", []string{"b1", "b2"}, 1)
	start("w3", []string{"b2"}, 1)

	require.NoError(t, a[1].Release()) // b2: w1 is head there, but wants b1 too
	select {
	case r := <-results:
		t.Fatalf("%s was served while the first waiter still waited: %v %v", r.name, r.ids, r.err)
	case <-time.After(200 * time.Millisecond):
	}
	require.NoError(t, a[0].Release())
	r := <-results
	require.NoError(t, r.err)
	require.Equal(t, "w1", r.name, "the first to arrive is served first")
	require.Empty(t, cmp.Diff([]string{"b1", "b2"}, r.ids), "(-want +got)")
	for _, h := range r.hs {
		require.NoError(t, h.Release())
	}
	got := map[string][]string{}
	for range 2 {
		r := <-results
		require.NoError(t, r.err)
		got[r.name] = r.ids
		defer func() {
			for _, h := range r.hs {
				h.Release()
			}
		}()
	}
	require.Empty(t, cmp.Diff(map[string][]string{"w2": {"b1"}, "w3": {"b2"}}, got), "(-want +got)")
	require.NoError(t, c3[0].Release())
}

// A waiter that gives up leaves no key behind, and a held board's Lost
// closes when its etcd lease is revoked under it.
func TestAcquireGiveUpAndLost(t *testing.T) {
	c := etcdtest.StartCluster(t, 1, nil)
	s := newStore(t, "giveup", c.Endpoints()...)
	hs, err := s.Acquire(t.Context(), []string{"x"}, 1, holder("holder"))
	require.NoError(t, err)

	ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
	_, err = s.Acquire(ctx, []string{"x"}, 1, holder("impatient"))
	cancel()
	require.ErrorIs(t, err, context.DeadlineExceeded)
	q, err := s.Queue(t.Context(), "x")
	require.NoError(t, err)
	require.Len(t, q, 1, "only the holder is in line")

	op := newStore(t, "giveup", c.Endpoints()...)
	_, err = op.Client().Revoke(t.Context(), hs[0].(*Lease).LeaseID)
	require.NoError(t, err)
	select {
	case <-hs[0].Lost():
		require.ErrorIs(t, hs[0].Err(), ErrLost)
	case <-time.After(5 * time.Second):
		t.Fatal("Lost did not close after the etcd lease was revoked")
	}
	require.NoError(t, hs[0].Release())
}
