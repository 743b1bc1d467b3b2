package etcdstore

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/stretchr/testify/require"

	"github.com/tinyprof/tinyprof/lab/etcdstore/etcdtest"
)

// Two exporters cannot both publish one board: the second is refused,
// naming the first's host, and gets it once the first withdraws. An
// unreadable record is reported and passed over; Close withdraws all.
func TestPublisher(t *testing.T) {
	c := etcdtest.StartCluster(t, 1, nil)
	s := newStore(t, "pub", c.Endpoints()...)
	ctx := t.Context()
	a, err := s.Publisher(ctx)
	require.NoError(t, err)
	b, err := s.Publisher(ctx)
	require.NoError(t, err)
	defer b.Close()

	board := func(id, host string) Published {
		return Published{ID: id, Platform: "esp32s3", Address: "rfc2217://" + host + ":3330", Host: host, Device: "/dev/ttyUSB0"}
	}
	require.NoError(t, a.Set(ctx, []Published{board("x", "hosta"), board("y", "hosta")}))
	require.NoError(t, a.Set(ctx, []Published{board("x", "hosta"), board("y", "hosta")}), "publishing the same again is a no-op")
	err = b.Set(ctx, []Published{board("x", "hostb"), board("z", "hostb")})
	require.ErrorIs(t, err, ErrPublishedElsewhere)
	require.ErrorContains(t, err, "board x: board is published by another exporter: hosta")
	require.Equal(t, []string{"z"}, b.Published(), "the rest is published all the same")

	_, err = s.Client().Put(ctx, s.inventoryPrefix()+"junk", "{not json")
	require.NoError(t, err)
	got, err := s.Boards(ctx)
	require.ErrorContains(t, err, "junk is unreadable")
	hosts := map[string]string{}
	for _, p := range got {
		hosts[p.ID] = p.Host
	}
	require.Empty(t, cmp.Diff(map[string]string{"x": "hosta", "y": "hosta", "z": "hostb"}, hosts), "(-want +got)")
	_, err = s.Client().Delete(ctx, s.inventoryPrefix()+"junk")
	require.NoError(t, err)

	require.NoError(t, a.Set(ctx, []Published{board("y", "hosta")}), "x withdrawn")
	require.NoError(t, b.Set(ctx, []Published{board("x", "hostb"), board("z", "hostb")}))
	require.NoError(t, a.Close())
	got, err = s.Boards(ctx)
	require.NoError(t, err)
	require.Len(t, got, 2, "a's boards are gone at once: %v", got)
	require.Equal(t, "rfc2217://hostb:3330", got[0].Entry().Port)
	require.Equal(t, "hostb", got[0].Entry().Host)
}
