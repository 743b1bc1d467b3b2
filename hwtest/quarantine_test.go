package hwtest

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tinyprof/tinyprof/lab"
)

// TestQuarantineSkipSaysHowToRecheck: a test skipped because every
// matching board is quarantined gives the command that rechecks them now.
func TestQuarantineSkipSaysHowToRecheck(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  Config
		want string
	}{
		{"inventory", Config{Inventory: "/lab/inv.yaml", LeaseDir: "/lab/leases"},
			"recheck now: `tiny-profiler health-check --inventory /lab/inv.yaml --lease-dir /lab/leases --device sim-a`; a board that passes returns to service"},
		{"catalogue", Config{}, "recheck now: run with -hwtest.leasedir=$(mktemp -d)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := testLab(t, simBoards("esp32s3", "sim-a")...)
			l.Config = tc.cfg
			release, err := l.Store.TryAcquire(t.Context(), "sim-a", lab.Holder{PID: 1, Test: "T"})
			require.NoError(t, err)
			require.NoError(t, l.Store.SetHealth(t.Context(), "sim-a", lab.Health{Status: lab.Quarantined, Reason: "broke", Checked: time.Now()}))
			require.NoError(t, release())

			ft := newFakeTB(t, "TestQuarantined")
			ft.run(func(tb testing.TB) { l.Lease(tb) })
			require.True(t, ft.skipped, ft.msg)
			assert.Contains(t, ft.msg, "infrastructure: ")
			assert.Contains(t, ft.msg, tc.want)
		})
	}
}
