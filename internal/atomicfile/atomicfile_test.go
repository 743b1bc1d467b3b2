package atomicfile

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/tinyprof/tinyprof/internal/pty"
)

func TestWriteReplacesWholeOrNotAtAll(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "report.json")
	require.NoError(t, WriteFile(path, []byte("first"), 0o644))

	boom := errors.New("boom")
	err := Write(path, 0o644, func(w io.Writer) error {
		w.Write([]byte("half of a second versi"))
		return boom
	})
	require.ErrorIs(t, err, boom)
	assert.Contains(t, err.Error(), path)
	got, err := os.ReadFile(path)
	require.NoError(t, err)
	assert.Equal(t, "first", string(got), "a failed write leaves the old file")

	require.NoError(t, WriteFile(path, []byte("second"), 0o644))
	got, _ = os.ReadFile(path)
	assert.Equal(t, "second", string(got))

	st, err := os.Stat(path)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o644), st.Mode().Perm(), "readable by others, unlike CreateTemp's 0600")

	ents, _ := os.ReadDir(dir)
	assert.Len(t, ents, 1, "no temporary file left behind")
}

func TestWriteIntoMissingDirectory(t *testing.T) {
	err := WriteFile(filepath.Join(t.TempDir(), "no", "such", "dir", "f"), nil, 0o644)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "no such file or directory")
}

// TestWriteNeverReplacesWhatIsNotAFile: a path naming a device, FIFO,
// terminal or directory keeps what it names. Before this was checked, a
// rename turned /dev/full into a regular file when run as root.
func TestWriteNeverReplacesWhatIsNotAFile(t *testing.T) {
	dir := t.TempDir()
	link := func(t *testing.T, name, to string) string {
		t.Helper()
		p := filepath.Join(dir, name)
		require.NoError(t, os.Symlink(to, p))
		return p
	}
	t.Run("a link to /dev/null is written through", func(t *testing.T) {
		p := link(t, "null", os.DevNull)
		require.NoError(t, WriteFile(p, []byte("discarded"), 0o644))
		st, err := os.Lstat(p)
		require.NoError(t, err)
		assert.NotZero(t, st.Mode()&os.ModeSymlink, "the link is still a link")
	})
	t.Run("a full device reports its error", func(t *testing.T) {
		if _, err := os.Stat("/dev/full"); err != nil {
			t.Skip("no /dev/full")
		}
		p := link(t, "full", "/dev/full")
		err := WriteFile(p, []byte("x"), 0o644)
		require.ErrorIs(t, err, syscall.ENOSPC)
		st, err := os.Stat(p)
		require.NoError(t, err)
		assert.NotZero(t, st.Mode()&os.ModeCharDevice, "/dev/full is still a device")
	})
	t.Run("a device node is written into, not replaced", func(t *testing.T) {
		if os.Geteuid() != 0 {
			t.Skip("making a device node needs root")
		}
		p := filepath.Join(dir, "devnull")
		require.NoError(t, syscall.Mknod(p, syscall.S_IFCHR|0o666, int(unix.Mkdev(1, 3))))
		require.NoError(t, WriteFile(p, []byte("x"), 0o644))
		st, err := os.Lstat(p)
		require.NoError(t, err)
		assert.NotZero(t, st.Mode()&os.ModeCharDevice, "still a character device")
	})
	t.Run("a directory is refused", func(t *testing.T) {
		err := WriteFile(dir, []byte("x"), 0o644)
		require.Error(t, err)
		assert.Contains(t, err.Error(), "is a directory: name a file in it")
		st, err := os.Stat(dir)
		require.NoError(t, err)
		assert.True(t, st.IsDir())
	})
	t.Run("a FIFO with a reader gets the data", func(t *testing.T) {
		p := filepath.Join(dir, "fifo-read")
		require.NoError(t, unix.Mkfifo(p, 0o600))
		r, err := os.OpenFile(p, os.O_RDONLY|unix.O_NONBLOCK, 0)
		require.NoError(t, err)
		defer r.Close()
		require.NoError(t, WriteFile(p, []byte("through the pipe"), 0o644))
		got := make([]byte, 64)
		n, err := r.Read(got)
		require.NoError(t, err)
		assert.Equal(t, "through the pipe", string(got[:n]))
		st, err := os.Lstat(p)
		require.NoError(t, err)
		assert.NotZero(t, st.Mode()&os.ModeNamedPipe, "still a FIFO")
	})
	t.Run("a FIFO with no reader fails at once", func(t *testing.T) {
		p := filepath.Join(dir, "fifo-alone")
		require.NoError(t, unix.Mkfifo(p, 0o600))
		err := WriteFile(p, []byte("x"), 0o644)
		require.Error(t, err)
		assert.Contains(t, err.Error(), "nothing is reading it")
	})
	t.Run("a FIFO whose reader stalls honours the context", func(t *testing.T) {
		p := filepath.Join(dir, "fifo-stalled")
		require.NoError(t, unix.Mkfifo(p, 0o600))
		r, err := os.OpenFile(p, os.O_RDONLY|unix.O_NONBLOCK, 0)
		require.NoError(t, err)
		defer r.Close()
		ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
		defer cancel()
		big := make([]byte, 4<<20) // more than a pipe holds
		err = WriteContext(ctx, p, 0o644, func(w io.Writer) error { _, err := w.Write(big); return err })
		require.ErrorIs(t, err, context.DeadlineExceeded)
	})
	t.Run("a terminal is written into", func(t *testing.T) {
		pair, err := pty.Open()
		require.NoError(t, err)
		defer pair.Close()
		require.NoError(t, WriteFile(pair.Path, []byte("to the tty"), 0o644))
		got := make([]byte, 64)
		n, err := pair.Master.Read(got)
		require.NoError(t, err)
		assert.Equal(t, "to the tty", string(got[:n]))
	})
	t.Run("a link to a file replaces the file and keeps the link", func(t *testing.T) {
		target := filepath.Join(dir, "real.json")
		require.NoError(t, os.WriteFile(target, []byte("old"), 0o644))
		p := link(t, "report.json", target)
		require.NoError(t, WriteFile(p, []byte("new"), 0o644))
		got, err := os.ReadFile(target)
		require.NoError(t, err)
		assert.Equal(t, "new", string(got))
		st, err := os.Lstat(p)
		require.NoError(t, err)
		assert.NotZero(t, st.Mode()&os.ModeSymlink)
	})
	t.Run("a link owned by another user is refused", func(t *testing.T) {
		if os.Geteuid() != 0 {
			t.Skip("giving a link to another user needs root")
		}
		target := filepath.Join(dir, "victim")
		require.NoError(t, os.WriteFile(target, []byte("precious"), 0o644))
		p := link(t, "planted", target)
		require.NoError(t, os.Lchown(p, 65534, 65534))
		err := WriteFile(p, []byte("overwritten"), 0o644)
		require.Error(t, err)
		assert.Contains(t, err.Error(), "owned by uid 65534")
		got, _ := os.ReadFile(target)
		assert.Equal(t, "precious", string(got))
	})
}
