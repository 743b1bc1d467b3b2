package lab

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func testHolder(test string) Holder {
	return Holder{PID: os.Getpid(), Host: "testhost", Test: test, Since: time.Now()}
}

func TestFlockStoreExclusive(t *testing.T) {
	ctx := t.Context()
	st, err := NewFlockStore(t.TempDir())
	require.NoError(t, err)

	release, err := st.TryAcquire(ctx, "board/1:a", testHolder("TestOne"))
	require.NoError(t, err)

	// flock is per open file: a second lease in the same process is refused.
	_, err = st.TryAcquire(ctx, "board/1:a", testHolder("TestTwo"))
	require.ErrorIs(t, err, ErrHeld)
	var he *HeldError
	require.ErrorAs(t, err, &he)
	require.NotNil(t, he.Holder)
	require.Equal(t, "TestOne", he.Holder.Test)
	require.Contains(t, err.Error(), "board board/1:a is leased by pid")

	li, err := st.Inspect(ctx, "board/1:a")
	require.NoError(t, err)
	require.True(t, li.Held)
	require.Equal(t, "TestOne", li.Holder.Test)

	require.NoError(t, release())
	require.NoError(t, release(), "release twice")
	li, err = st.Inspect(ctx, "board/1:a")
	require.NoError(t, err)
	require.False(t, li.Held)
	require.Nil(t, li.Holder, "a released lease leaves no holder record")

	release, err = st.TryAcquire(ctx, "board/1:a", testHolder("TestTwo"))
	require.NoError(t, err)
	defer release()

	all, err := ListLeases(st.Dir())
	require.NoError(t, err)
	require.Len(t, all, 1)
	require.Equal(t, "board/1:a", all[0].ID, "ids round-trip through file names")
	require.Contains(t, all[0].String(), "held by pid")
}

// A lock file left behind by a process that died — with its holder record
// still in it — does not block the board: the kernel released the lock.
func TestFlockStoreStaleLockFile(t *testing.T) {
	ctx := t.Context()
	dir := t.TempDir()
	dead := Holder{PID: 999999, Host: "gone", Test: "TestCrashed", Since: time.Now().Add(-time.Hour)}
	rec, _ := json.Marshal(dead)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "sim-a.lock"), rec, 0o644))

	leases, err := ListLeases(dir)
	require.NoError(t, err)
	require.Len(t, leases, 1)
	require.False(t, leases[0].Held, "nobody holds the lock")
	require.Equal(t, "TestCrashed", leases[0].Holder.Test, "the stale record is reported as the last holder")

	st, err := NewFlockStore(dir)
	require.NoError(t, err)
	release, err := st.TryAcquire(ctx, "sim-a", testHolder("TestNext"))
	require.NoError(t, err)
	li, err := st.Inspect(ctx, "sim-a")
	require.NoError(t, err)
	require.Equal(t, "TestNext", li.Holder.Test)
	require.NoError(t, release())
}

func TestFlockStoreHealth(t *testing.T) {
	ctx := t.Context()
	st, err := NewFlockStore(t.TempDir())
	require.NoError(t, err)
	h := Health{Status: Quarantined, Reason: "no answer", Since: time.Now().UTC().Round(0), Failures: 2}
	require.NoError(t, st.SetHealth(ctx, "a", h))
	li, err := st.Inspect(ctx, "a")
	require.NoError(t, err)
	require.Equal(t, Quarantined, li.Health.Status)
	require.Equal(t, "no answer", li.Health.Reason)
	require.False(t, li.Held)
	require.Contains(t, li.String(), "quarantined since")

	// No temporary files are left beside the record.
	ents, err := os.ReadDir(st.Dir())
	require.NoError(t, err)
	require.Len(t, ents, 1)

	require.NoError(t, os.WriteFile(filepath.Join(st.Dir(), "a.health"), []byte("{"), 0o644))
	_, err = st.Inspect(ctx, "a")
	require.ErrorIs(t, err, ErrBadEntry)
	require.ErrorContains(t, err, "is corrupt")
	require.ErrorContains(t, err, "delete it")
}

func TestFlockStoreBadDir(t *testing.T) {
	file := filepath.Join(t.TempDir(), "file")
	require.NoError(t, os.WriteFile(file, nil, 0o644))
	_, err := NewFlockStore(filepath.Join(file, "leases"))
	require.ErrorContains(t, err, "lease directory "+filepath.Join(file, "leases")+" is not usable")
	require.ErrorContains(t, err, "TINYPROF_LEASE_DIR")

	_, err = NewFlockStore("")
	require.Error(t, err)

	leases, err := ListLeases(filepath.Join(t.TempDir(), "none"))
	require.NoError(t, err)
	require.Empty(t, leases)

	// A directory that goes away after the store was made is reported on use.
	dir := filepath.Join(t.TempDir(), "leases")
	st, err := NewFlockStore(dir)
	require.NoError(t, err)
	require.NoError(t, os.RemoveAll(dir))
	require.NoError(t, os.WriteFile(dir, nil, 0o644))
	_, err = st.TryAcquire(context.Background(), "a", testHolder("T"))
	require.ErrorIs(t, err, ErrStore, "the store failed, not the board")
	require.ErrorContains(t, err, "not a directory")
}

func TestFileName(t *testing.T) {
	for _, id := range []string{"a", "3C:84/F0", ".hidden", "x%y", "日本", "sim-esp32s3-1"} {
		require.Equal(t, id, unescapeName(fileName(id)), id)
		require.NotContains(t, fileName(id), "/")
		require.NotEqual(t, '.', rune(fileName(id)[0]))
	}
}
