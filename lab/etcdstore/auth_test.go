package etcdstore

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/tinyprof/tinyprof/lab"
	"github.com/tinyprof/tinyprof/lab/etcdstore/etcdtest"
)

// The role the package documentation gives a leaser is enough to lease a
// board, record its health and release it, and not enough to change the
// inventory; without credentials nothing works.
func TestLeaserRole(t *testing.T) {
	c := etcdtest.StartCluster(t, 1, nil)
	ctx := t.Context()
	admin, err := clientv3.New(clientv3.Config{Endpoints: c.Endpoints(), Logger: zap.NewNop()})
	require.NoError(t, err)
	defer admin.Close()
	grant := func(role, key string, prefix bool, perm string) {
		t.Helper()
		pt, err := clientv3.StrToPermissionType(perm)
		require.NoError(t, err)
		end := ""
		if prefix {
			end = clientv3.GetPrefixRangeEnd(key)
		}
		_, err = admin.RoleGrantPermission(ctx, role, key, end, pt)
		require.NoError(t, err)
	}
	for _, step := range []func() error{
		func() error { _, err := admin.UserAdd(ctx, "root", "rootpw"); return err },
		func() error { _, err := admin.UserGrantRole(ctx, "root", "root"); return err },
		func() error { _, err := admin.RoleAdd(ctx, "tinyprof-leaser"); return err },
		func() error { _, err := admin.UserAdd(ctx, "ci-runner", "runnerpw"); return err },
		func() error { _, err := admin.UserGrantRole(ctx, "ci-runner", "tinyprof-leaser"); return err },
	} {
		require.NoError(t, step())
	}
	grant("tinyprof-leaser", "/tinyprof/authlab/boards/", true, "READWRITE")
	grant("tinyprof-leaser", "/tinyprof/authlab/", true, "READ")
	_, err = admin.AuthEnable(ctx)
	require.NoError(t, err)

	_, err = New(ctx, Options{Endpoints: c.Endpoints(), Lab: "authlab", DialTimeout: time.Second})
	require.Error(t, err, "no credentials, no lab")

	s, err := New(ctx, Options{Endpoints: c.Endpoints(), Lab: "authlab", TTL: testTTL, Username: "ci-runner", Password: "runnerpw"})
	require.NoError(t, err)
	defer s.Close()
	l, err := s.Lease(ctx, "b", holder("ci"))
	require.NoError(t, err, "the leaser role can lease")
	require.NoError(t, l.SetHealth(ctx, lab.Health{Status: lab.Healthy}), "and record health")
	infos, err := s.List(ctx)
	require.NoError(t, err)
	require.Len(t, infos, 1)
	time.Sleep(testTTL) // keep-alives, too, are allowed
	require.NoError(t, l.Err())
	require.NoError(t, l.Release(), "and release (revoke)")

	_, err = s.Client().Put(ctx, "/tinyprof/authlab/inventory/b", "{}")
	require.ErrorContains(t, err, "permission denied", "but not edit the inventory")
	_, err = s.Client().Get(ctx, "/tinyprof/authlab/inventory/", clientv3.WithPrefix())
	require.NoError(t, err, "which it may read")
}
