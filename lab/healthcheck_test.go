package lab

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tinyprof/tinyprof/device/sim"
	"github.com/tinyprof/tinyprof/fixtures"
	"github.com/tinyprof/tinyprof/journal"
)

// journalLab is testLab with a journal.
func journalLab(t *testing.T, faulty map[string]sim.Options, boards ...Entry) *Lab {
	t.Helper()
	lab := testLab(t, boards...)
	lab.Connect = simConnect(faulty)
	j, err := journal.Open(filepath.Join(t.TempDir(), "journal"), journal.Options{})
	require.NoError(t, err)
	lab.Journal = j
	return lab
}

func TestHealthCheck(t *testing.T) {
	boards := simBoards("esp32s3", "good", "silent", "held", "maint")
	boards[3].State, boards[3].Notes = Maintenance, "reflashing"
	lab := journalLab(t, map[string]sim.Options{"silent": {Faults: sim.Faults{Silent: true}}}, boards...)
	lab.Device.Timeout = 200 * time.Millisecond

	host, _ := os.Hostname()
	release, err := lab.Store.TryAcquire(t.Context(), "held", Holder{PID: os.Getpid(), Host: host, Test: "other"})
	require.NoError(t, err)
	defer release()

	res, err := lab.HealthCheck(t.Context(), HealthOptions{})
	require.NoError(t, err)
	got := map[string]Verdict{}
	for _, r := range res {
		got[r.ID] = r.Verdict
	}
	assert.Equal(t, map[string]Verdict{"good": VerdictGood, "silent": VerdictBad, "held": VerdictBusy, "maint": VerdictMaintenance}, got)
	assert.True(t, res[0].Simulated)
	assert.Positive(t, res[0].FreeHeap)
	assert.Contains(t, res[1].Reason, "connect")
	assert.Contains(t, res[2].Reason, "(other)")
	assert.Equal(t, "reflashing", res[3].Reason)

	li, err := lab.Store.Inspect(t.Context(), "silent")
	require.NoError(t, err)
	assert.Equal(t, Quarantined, li.Health.Status, "a bad board is quarantined for leases")
	li, err = lab.Store.Inspect(t.Context(), "good")
	require.NoError(t, err)
	assert.Equal(t, Healthy, li.Health.Status)

	// A quarantined board that passes again returns to service.
	lab.Connect = simConnect(nil)
	res, err = lab.HealthCheck(t.Context(), HealthOptions{})
	require.NoError(t, err)
	assert.Equal(t, VerdictGood, res[1].Verdict)
	li, err = lab.Store.Inspect(t.Context(), "silent")
	require.NoError(t, err)
	assert.Equal(t, Healthy, li.Health.Status)

	ev, err := lab.Journal.Read(t.Context(), journal.Query{})
	require.NoError(t, err)
	kinds := map[journal.Kind]int{}
	failedConnects := 0
	for _, e := range ev.Events {
		kinds[e.Kind]++
		if ok, _ := e.Bool("ok"); e.Kind == journal.KindConnect && !ok {
			failedConnects++
		}
	}
	assert.Equal(t, 8, kinds[journal.KindHealth], "one health event per board per run")
	assert.Equal(t, 2, failedConnects, "the silent board failed to connect twice: before and after a reset")
	assert.Equal(t, 1, kinds[journal.KindFault], "one quarantine")
	assert.Positive(t, kinds[journal.KindMemory])
}

func TestHealthCheckComprehensive(t *testing.T) {
	lab := journalLab(t, nil, simBoards("esp32s3", "a")...)
	_, err := lab.HealthCheck(t.Context(), HealthOptions{Comprehensive: true})
	require.ErrorContains(t, err, "needs HealthOptions.Model")

	res, err := lab.HealthCheck(t.Context(), HealthOptions{Comprehensive: true, Tokens: 8,
		Model: fixtures.Llama2C(fixtures.Stories260K, fixtures.Seed)})
	require.NoError(t, err)
	require.Len(t, res, 1)
	require.Equal(t, VerdictGood, res[0].Verdict, res[0].Reason)
	assert.Positive(t, res[0].TokensPerSecond)
	assert.Positive(t, res[0].P95MS)

	ev, err := lab.Journal.Read(t.Context(), journal.Query{Kinds: []journal.Kind{journal.KindModelLoad, journal.KindInference}})
	require.NoError(t, err)
	require.Len(t, ev.Events, 2)
	ok, _ := ev.Events[0].Bool("ok")
	assert.True(t, ok)
	p95, _ := ev.Events[1].Number("p95_ms")
	assert.Equal(t, res[0].P95MS, p95)
}

func TestLeaseIsJournalled(t *testing.T) {
	lab := journalLab(t, nil, simBoards("esp32s3", "a")...)
	b, err := lab.Acquire(t.Context(), "TestLeaseIsJournalled", Request{})
	require.NoError(t, err)
	require.NoError(t, b.Release())
	ev, err := lab.Journal.Read(t.Context(), journal.Query{Board: "a"})
	require.NoError(t, err)
	var kinds []journal.Kind
	for _, e := range ev.Events {
		kinds = append(kinds, e.Kind)
	}
	assert.Equal(t, []journal.Kind{journal.KindConnect, journal.KindHealth, journal.KindLease, journal.KindLease}, kinds)
	assert.Contains(t, ev.Events[2].Message, "leased by")
	assert.Contains(t, ev.Events[3].Message, "released by")
}

func TestDefaultStateDirOverride(t *testing.T) {
	dir := t.TempDir()
	t.Setenv(EnvStateDir, dir)
	got, err := DefaultStateDir()
	require.NoError(t, err)
	assert.Equal(t, dir, got)
	j, err := DefaultJournalDir()
	require.NoError(t, err)
	assert.Equal(t, filepath.Join(dir, "journal"), j)
}
