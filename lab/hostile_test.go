package lab

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// NewFlockStore makes the lease directory private and refuses one that
// another user could plant links in.
func TestFlockStorePrivateDir(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "leases")
	_, err := NewFlockStore(dir)
	require.NoError(t, err)
	st, err := os.Stat(dir)
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o700), st.Mode().Perm(), "created private")

	tests := []struct {
		name  string
		setup func(t *testing.T) string
		want  string
	}{
		{"world-writable", func(t *testing.T) string {
			d := filepath.Join(t.TempDir(), "open")
			require.NoError(t, os.Mkdir(d, 0o700))
			require.NoError(t, os.Chmod(d, 0o777))
			return d
		}, "writable by group or others (mode 0777): run chmod go-w"},
		{"group-writable", func(t *testing.T) string {
			d := filepath.Join(t.TempDir(), "group")
			require.NoError(t, os.Mkdir(d, 0o700))
			require.NoError(t, os.Chmod(d, 0o770))
			return d
		}, "writable by group or others"},
		{"symlink", func(t *testing.T) string {
			d := filepath.Join(t.TempDir(), "link")
			require.NoError(t, os.Symlink(t.TempDir(), d))
			return d
		}, "is a symbolic link"},
		{"file", func(t *testing.T) string {
			d := filepath.Join(t.TempDir(), "file")
			require.NoError(t, os.WriteFile(d, nil, 0o600))
			return d
		}, "not a directory"},
	}
	if os.Geteuid() == 0 {
		tests = append(tests, struct {
			name  string
			setup func(t *testing.T) string
			want  string
		}{"someone else's", func(t *testing.T) string {
			d := filepath.Join(t.TempDir(), "theirs")
			require.NoError(t, os.Mkdir(d, 0o700))
			require.NoError(t, os.Chown(d, 65534, 65534))
			return d
		}, "is owned by uid 65534, not by you"})
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := NewFlockStore(tt.setup(t))
			require.ErrorContains(t, err, tt.want)
			require.ErrorContains(t, err, "TINYPROF_LEASE_DIR", "the error names the fix")
		})
	}
}

// A lock or health path that is a link, a directory or a FIFO is that
// board's problem: refused at once, never followed, never blocking.
func TestFlockStoreHostileEntries(t *testing.T) {
	victim := filepath.Join(t.TempDir(), "victim")
	const precious = "do not empty me\n"
	tests := []struct {
		name  string
		plant func(t *testing.T, path string)
		want  string
	}{
		{"symlink", func(t *testing.T, path string) {
			require.NoError(t, os.WriteFile(victim, []byte(precious), 0o600))
			require.NoError(t, os.Symlink(victim, path))
		}, "is a symbolic link"},
		{"directory", func(t *testing.T, path string) { require.NoError(t, os.Mkdir(path, 0o700)) }, "is a directory"},
		{"fifo", func(t *testing.T, path string) { require.NoError(t, unix.Mkfifo(path, 0o600)) }, "is a FIFO"},
	}
	for _, tt := range tests {
		for _, ext := range []string{".lock", ".health"} {
			t.Run(tt.name+ext, func(t *testing.T) {
				st, err := NewFlockStore(t.TempDir())
				require.NoError(t, err)
				tt.plant(t, filepath.Join(st.Dir(), "a"+ext))
				done := make(chan error, 3)
				go func() {
					_, err := st.Inspect(context.Background(), "a")
					done <- err
					rel, err := st.TryAcquire(context.Background(), "a", testHolder("T"))
					if err == nil && ext == ".health" {
						err = st.SetHealth(context.Background(), "a", Health{Status: Quarantined})
						rel()
					}
					done <- err
				}()
				for range 2 {
					select {
					case err := <-done:
						if ext == ".lock" || err != nil {
							require.ErrorIs(t, err, ErrBadEntry)
							require.ErrorContains(t, err, tt.want)
							require.ErrorContains(t, err, "remove it")
						}
					case <-time.After(10 * time.Second):
						t.Fatal("blocked on the planted file") // a FIFO opened for reading waits for a writer
					}
				}
				if data, err := os.ReadFile(victim); err == nil {
					require.Equal(t, precious, string(data), "the link's target is untouched")
				}
			})
		}
	}
}

// One bad entry costs one board, not the lab: Acquire leases another, and
// ListLeases reports the bad one beside the rest.
func TestBadEntryIsolated(t *testing.T) {
	lab := testLab(t, simBoards("esp32s3", "sim-a", "sim-b", "sim-c")...)
	dir := lab.Store.(*FlockStore).Dir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "sim-a.health"), []byte("{not json"), 0o600))
	require.NoError(t, os.Mkdir(filepath.Join(dir, "sim-b.lock"), 0o700))

	b, err := lab.Acquire(within(t, 30*time.Second), t.Name(), Request{Platform: "esp32s3"})
	require.NoError(t, err)
	require.Equal(t, "sim-c", b.Entry.ID)

	list, err := ListLeases(dir)
	require.NoError(t, err, "one bad entry does not fail the listing")
	require.Len(t, list, 3)
	require.Contains(t, list[0].Problem, "is corrupt")
	require.Contains(t, list[1].Problem, "is a directory")
	require.Empty(t, list[2].Problem)
	require.True(t, list[2].Held)
	require.NoError(t, b.Release())

	// With only bad boards left, the lease says so at once.
	only := testLab(t, simBoards("esp32s3", "sim-a")...)
	only.Store = lab.Store
	_, err = only.Acquire(within(t, time.Minute), t.Name(), Request{Platform: "esp32s3"})
	require.ErrorIs(t, err, ErrBadEntry)
	require.ErrorContains(t, err, "sim-a.health is corrupt")
}

// failingStore is a FlockStore whose writes fail as a full disk's do.
type failingStore struct {
	*FlockStore
	err error
}

func (s failingStore) SetHealth(ctx context.Context, id string, h Health) error {
	return &StoreError{Op: "write health record", Path: s.healthPath(id), Err: s.err}
}

// A store that cannot be written fails the lease at once with the cause,
// instead of waiting out the deadline and calling every board free.
func TestStoreFailureFailsFast(t *testing.T) {
	for _, errno := range []syscall.Errno{syscall.ENOSPC, syscall.EROFS, syscall.EACCES} {
		t.Run(errno.Error(), func(t *testing.T) {
			lab := testLab(t, simBoards("esp32s3", "sim-a", "sim-b")...)
			lab.Store = failingStore{lab.Store.(*FlockStore), errno}
			ctx, cancel := context.WithTimeout(t.Context(), 10*time.Minute)
			defer cancel()
			_, err := lab.Acquire(ctx, t.Name(), Request{Platform: "esp32s3"})
			require.ErrorIs(t, err, ErrStore)
			require.ErrorIs(t, err, errno)
			require.NotErrorIs(t, err, ErrUnavailable)
			require.NoError(t, ctx.Err(), "failed before the deadline")
			require.NotContains(t, err.Error(), ": free", "no board is called free")
		})
	}
	if os.Geteuid() != 0 {
		// A read-only directory, for real (root writes anywhere).
		dir := filepath.Join(t.TempDir(), "ro")
		st, err := NewFlockStore(dir)
		require.NoError(t, err)
		require.NoError(t, os.Chmod(dir, 0o500))
		t.Cleanup(func() { os.Chmod(dir, 0o700) })
		_, err = st.TryAcquire(t.Context(), "a", testHolder("T"))
		require.ErrorIs(t, err, ErrStore)
	}
}

// The simulated boards' default lease directory is in the per-user runtime
// directory when there is one, not at a guessable name in /tmp.
func TestDefaultSimLeaseDir(t *testing.T) {
	run := t.TempDir()
	t.Setenv("XDG_RUNTIME_DIR", run)
	require.Equal(t, filepath.Join(run, "tinyprof-hwtest"), DefaultSimLeaseDir())
	t.Setenv("XDG_RUNTIME_DIR", "relative")
	require.Equal(t, filepath.Join(os.TempDir(), "tinyprof-hwtest-"+strconv.Itoa(os.Getuid())), DefaultSimLeaseDir())
}
