package hwtest

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/tinyprof/tinyprof/device"
	"github.com/tinyprof/tinyprof/lab"
	"github.com/tinyprof/tinyprof/lab/etcdstore"
	"github.com/tinyprof/tinyprof/lab/etcdstore/etcdtest"
)

// A test whose board's lease in etcd is lost mid-test (here revoked by an
// operator, as an expiry or a cut-off would end it) is stopped at once —
// the board's connection closed, Board.Context cancelled — and fails with
// a message that begins "infrastructure:", counted in the summary.
func TestLeaseLostMidTest(t *testing.T) {
	srv := etcdtest.Start(t)
	st, err := etcdstore.New(t.Context(), etcdstore.Options{Endpoints: []string{srv.Endpoint}, Lab: "lost", TTL: 3 * time.Second})
	require.NoError(t, err)
	t.Cleanup(func() { st.Close() })
	tally := &runTally{}
	l := &Lab{Lab: &lab.Lab{Boards: simBoards("esp32s3", "sim-lost"), Store: st, Device: device.Options{Timeout: time.Second}}, tally: tally}

	ft := newFakeTB(t, "TestLost")
	var pingErr error
	var cancelled bool
	ft.run(func(tb testing.TB) {
		b := l.Lease(tb, Platform("esp32s3"))
		_, err := b.Ping(b.Context(), []byte("before"))
		require.NoError(t, err)
		g, err := st.Client().Get(t.Context(), "/tinyprof/lost/boards/sim-lost/lease/", clientv3.WithPrefix())
		require.NoError(t, err)
		require.Len(t, g.Kvs, 1)
		_, err = st.Client().Revoke(t.Context(), clientv3.LeaseID(g.Kvs[0].Lease))
		require.NoError(t, err)
		select {
		case <-b.Context().Done():
			cancelled = true
		case <-time.After(10 * time.Second):
		}
		_, pingErr = b.Ping(t.Context(), []byte("after"))
	})
	require.True(t, cancelled, "Board.Context was not cancelled when the lease was lost")
	require.Error(t, pingErr, "the board's connection was still open after its lease was lost")
	require.True(t, ft.failed)
	require.Regexp(t, `^infrastructure: lease on board sim-lost lost: .*: the test was stopped`, ft.msg)
	require.Len(t, tally.order, 1, "counted once in the summary")
}
