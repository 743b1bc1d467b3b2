package etcdstore

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/tinyprof/tinyprof/lab"
	"github.com/tinyprof/tinyprof/lab/etcdstore/etcdtest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func holder(test string) lab.Holder {
	return lab.Holder{PID: os.Getpid(), Host: "testhost", Test: test, Since: time.Now().Round(0).UTC()}
}

func TestParseURL(t *testing.T) {
	t.Setenv(EnvPassword, "from-env")
	tests := []struct {
		in   string
		want Options
		err  string
	}{
		{in: "etcd://10.0.0.1:2379", want: Options{Endpoints: []string{"10.0.0.1:2379"}}},
		{in: "etcd://a:2379,b:2379,c:2379/lab1?ttl=5s", want: Options{Endpoints: []string{"a:2379", "b:2379", "c:2379"}, Lab: "lab1", TTL: 5 * time.Second}},
		{in: "etcd://ci@a:2379/x?ca=/ca.pem&cert=/c.pem&key=/k.pem", want: Options{Endpoints: []string{"a:2379"}, Lab: "x", Username: "ci", Password: "from-env", CAFile: "/ca.pem", CertFile: "/c.pem", KeyFile: "/k.pem"}},
		{in: "etcd://ci:pw@a:2379", want: Options{Endpoints: []string{"a:2379"}, Username: "ci", Password: "pw"}},
		{in: "http://a:2379", err: "want etcd://"},
		{in: "etcd:///lab", err: "names no etcd member"},
		{in: "etcd://a:1,,b:2", err: "empty member"},
		{in: "etcd://a:1?ttl=soon", err: "not a positive duration"},
		{in: "etcd://a:1?tls=1", err: `unknown parameter "tls"`},
		{in: "etcd://a:1/x/y", err: "contains '/'"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseURL(tt.in)
			if tt.err != "" {
				require.ErrorContains(t, err, tt.err)
				return
			}
			require.NoError(t, err)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("ParseURL (-want +got):\n%s", diff)
			}
		})
	}
}

func TestNewFailsOnNoEtcd(t *testing.T) {
	port, err := etcdtest.FreePortRun(1)
	require.NoError(t, err)
	_, err = New(t.Context(), Options{Endpoints: []string{fmt.Sprintf("127.0.0.1:%d", port)}, DialTimeout: 300 * time.Millisecond})
	require.ErrorContains(t, err, "is it running")
}

// The store's basic contract: one holder at a time, named to the others;
// health survives the lease; the inspection and listing see it all.
func TestStoreContract(t *testing.T) {
	c := etcdtest.StartCluster(t, 1, nil)
	a := newStore(t, "contract", c.Endpoints()...)
	b := newStore(t, "contract", c.Endpoints()...)
	ctx := t.Context()

	err := a.SetHealth(ctx, "board/1", lab.Health{Status: lab.Healthy})
	require.ErrorIs(t, err, ErrNotHeld, "health is written only under a lease")

	ha := holder("A")
	rel, err := a.TryAcquire(ctx, "board/1", ha)
	require.NoError(t, err)
	_, err = b.TryAcquire(ctx, "board/1", holder("B"))
	var he *lab.HeldError
	require.ErrorAs(t, err, &he)
	require.ErrorIs(t, err, lab.ErrHeld)
	require.NotNil(t, he.Holder)
	if diff := cmp.Diff(ha, *he.Holder); diff != "" {
		t.Errorf("holder named to B (-want +got):\n%s", diff)
	}
	select {
	case <-a.Lost("board/1"):
		t.Fatal("a held lease is reported lost")
	default:
	}
	require.Nil(t, b.Lost("board/1"), "B holds nothing")

	q := lab.Health{Status: lab.Quarantined, Reason: "no answer", Since: time.Now().Round(0).UTC(), Checked: time.Now().Round(0).UTC(), Failures: 2, By: ha}
	require.NoError(t, a.SetHealth(ctx, "board/1", q))
	li, err := b.Inspect(ctx, "board/1")
	require.NoError(t, err)
	if diff := cmp.Diff(lab.LeaseInfo{ID: "board/1", Held: true, Holder: &ha, Health: q}, li); diff != "" {
		t.Errorf("Inspect while held (-want +got):\n%s", diff)
	}

	require.NoError(t, rel())
	require.NoError(t, rel(), "release twice")
	rb, err := b.TryAcquire(ctx, "board/1", holder("B"))
	require.NoError(t, err, "released means free at once")
	relOther, err := b.TryAcquire(ctx, "other", holder("B"))
	require.NoError(t, err)
	got, err := a.List(ctx)
	require.NoError(t, err)
	require.Len(t, got, 2)
	assert.Equal(t, "board/1", got[0].ID)
	assert.Equal(t, "B", got[0].Holder.Test)
	assert.Equal(t, lab.Quarantined, got[0].Health.Status, "health outlives the lease")
	assert.Equal(t, "other", got[1].ID)
	require.NoError(t, rb())
	require.NoError(t, relOther())
	li, err = a.Inspect(ctx, "board/1")
	require.NoError(t, err)
	assert.False(t, li.Held)
	assert.Nil(t, li.Holder, "a released lease leaves no holder record")
}

// Waiters are served in the order they arrived, each watching rather
// than polling.
func TestFairOrder(t *testing.T) {
	c := etcdtest.StartCluster(t, 1, nil)
	first := newStore(t, "fair", c.Endpoints()...)
	rel, err := first.TryAcquire(t.Context(), "b", holder("first"))
	require.NoError(t, err)

	const n = 6
	order := make(chan int, n)
	errs := make(chan error, n)
	for i := range n {
		s := newStore(t, "fair", c.Endpoints()...)
		go func() {
			ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
			defer cancel()
			l, err := s.Lease(ctx, "b", holder(fmt.Sprint(i)))
			if err != nil {
				errs <- err
				return
			}
			order <- i
			time.Sleep(5 * time.Millisecond)
			errs <- l.Release()
		}()
		// The next waiter arrives only once this one is queued.
		require.Eventually(t, func() bool {
			q, err := first.Queue(t.Context(), "b")
			return err == nil && len(q) == i+2
		}, 10*time.Second, 5*time.Millisecond, "waiter %d queued", i)
	}
	q, err := first.Queue(t.Context(), "b")
	require.NoError(t, err)
	var queued []string
	for _, e := range q {
		queued = append(queued, e.Holder.Test)
	}
	require.Equal(t, []string{"first", "0", "1", "2", "3", "4", "5"}, queued)
	_, err = first.TryAcquire(t.Context(), "b", holder("late"))
	require.ErrorIs(t, err, lab.ErrHeld, "TryAcquire does not jump the queue")

	require.NoError(t, rel())
	var got []int
	for range n {
		require.NoError(t, <-errs)
		got = append(got, <-order)
	}
	require.Equal(t, []int{0, 1, 2, 3, 4, 5}, got, "served in order of arrival")
}

// A waiter that gives up leaves the queue, and those behind it move up.
func TestWaiterGivesUp(t *testing.T) {
	c := etcdtest.StartCluster(t, 1, nil)
	s := newStore(t, "giveup", c.Endpoints()...)
	rel, err := s.TryAcquire(t.Context(), "b", holder("holder"))
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
	defer cancel()
	_, err = s.Lease(ctx, "b", holder("impatient"))
	require.ErrorIs(t, err, context.DeadlineExceeded)
	require.ErrorContains(t, err, "gave up waiting")
	q, err := s.Queue(t.Context(), "b")
	require.NoError(t, err)
	require.Len(t, q, 1, "the impatient waiter left the queue")
	require.NoError(t, rel())
}

// A holder cut off from etcd is told through Lost before the board can be
// anyone else's; the successor gets it only when the TTL has run out; and
// the old holder's late write is refused by the fence.
func TestCutOffHolderLosesLease(t *testing.T) {
	c := etcdtest.StartCluster(t, 1, nil)
	px := startProxy(t, c.Members[0].Endpoint)
	old := newStore(t, "cut", px.addr())
	succ := newStore(t, "cut", c.Endpoints()...)
	ctx := t.Context()

	l, err := old.Lease(ctx, "b", holder("old"))
	require.NoError(t, err)
	defer l.Release()
	require.NoError(t, l.SetHealth(ctx, lab.Health{Status: lab.Healthy, Reason: "old"}))

	px.Cut()
	cut := time.Now()
	got := make(chan time.Time, 1)
	gotErr := make(chan error, 1)
	go func() {
		lctx, cancel := context.WithTimeout(ctx, 20*time.Second)
		defer cancel()
		sl, err := succ.Lease(lctx, "b", holder("successor"))
		if err == nil {
			got <- time.Now()
			err = sl.SetHealth(ctx, lab.Health{Status: lab.Quarantined, Reason: "successor's verdict"})
		}
		gotErr <- err
	}()

	var lostAt time.Time
	select {
	case <-l.Lost():
		lostAt = l.lostAt // when the store marked it, however late this goroutine ran
	case <-time.After(testTTL + 5*time.Second):
		t.Fatal("the cut-off holder was never told it lost the lease")
	}
	require.ErrorIs(t, l.Err(), ErrLost)
	t.Logf("cut off: told %v after the cut: %v", lostAt.Sub(cut).Round(time.Millisecond), l.Err())

	var gotAt time.Time
	select {
	case gotAt = <-got:
	case err := <-gotErr:
		t.Fatalf("the successor did not get the board: %v", err)
	case <-time.After(testTTL + 5*time.Second):
		t.Fatal("the successor never got the board")
	}
	require.NoError(t, <-gotErr)
	require.False(t, gotAt.Before(lostAt), "the successor got the board (%v after the cut) before the holder was told it lost it (%v)", gotAt.Sub(cut), lostAt.Sub(cut))
	require.GreaterOrEqual(t, gotAt.Sub(cut), testTTL/2, "the board changed hands before the TTL could have run out")
	t.Logf("successor leased the board %v after the cut", gotAt.Sub(cut).Round(time.Millisecond))

	// Back in touch, the old holder's write is refused.
	px.Restore()
	wctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	err = old.SetHealth(wctx, "b", lab.Health{Status: lab.Healthy, Reason: "old holder's late write"})
	var fe *FenceError
	require.ErrorAs(t, err, &fe, "the late write is fenced off")
	require.ErrorIs(t, err, ErrFenced)
	require.Equal(t, l.Revision, fe.Revision)
	li, err := succ.Inspect(ctx, "b")
	require.NoError(t, err)
	require.Equal(t, "successor's verdict", li.Health.Reason, "the successor's record stands")
	require.Equal(t, "successor", li.Holder.Test)
}

// Revoking a holder's etcd lease from outside (an operator freeing a
// board) tells the holder at once, through the watch on its key.
func TestRevokedLeaseIsLost(t *testing.T) {
	c := etcdtest.StartCluster(t, 1, nil)
	s := newStore(t, "revoke", c.Endpoints()...)
	op := newStore(t, "revoke", c.Endpoints()...)
	l, err := s.Lease(t.Context(), "b", holder("h"))
	require.NoError(t, err)
	defer l.Release()
	_, err = op.Client().Revoke(t.Context(), l.LeaseID)
	require.NoError(t, err)
	select {
	case <-l.Lost():
	case <-time.After(testTTL):
		t.Fatal("a revoked lease was not reported lost")
	}
	require.ErrorContains(t, l.Err(), "deleted")
	require.ErrorIs(t, l.SetHealth(t.Context(), lab.Health{Status: lab.Healthy}), ErrFenced)
	require.NoError(t, l.Release(), "releasing a lost lease is not an error")
}

// In a three-member cluster, killing the leader does not stop leasing: a
// lease held across the kill survives, and boards are leased and released
// afterwards.
func TestClusterMemberKilled(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a three-member cluster")
	}
	c := etcdtest.StartCluster(t, 3, nil)
	s := newStore(t, "cluster", c.Endpoints()...)
	ctx := t.Context()
	cycle := func(id string) error {
		lctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		l, err := s.Lease(lctx, id, holder("cycle"))
		if err != nil {
			return err
		}
		return l.Release()
	}
	for range 5 {
		require.NoError(t, cycle("a"))
	}
	held, err := s.Lease(ctx, "held", holder("across the kill"))
	require.NoError(t, err)
	defer held.Release()

	lead := leader(t, c)
	lead.Stop()
	killed := time.Now()
	t.Logf("killed the leader, %s", lead.Name)
	// Requests in flight when the leader died may fail; leasing must come
	// back within a few election timeouts and then keep working.
	var first error
	require.Eventually(t, func() bool {
		first = cycle("a")
		return first == nil
	}, 10*time.Second, 100*time.Millisecond, "leasing resumed after the leader was killed: %v", first)
	t.Logf("first lease after the kill: %v later", time.Since(killed).Round(time.Millisecond))
	for i := range 10 {
		require.NoError(t, cycle(fmt.Sprintf("b%d", i%2)), "lease %d after the kill", i)
	}
	// Hold on past a whole TTL, so that keep-alives had to go to the
	// survivors.
	time.Sleep(testTTL + 500*time.Millisecond)
	require.NoError(t, held.Err(), "the lease held across the kill is still held")
	require.NoError(t, held.SetHealth(ctx, lab.Health{Status: lab.Healthy}), "and its writes pass the fence")
}
