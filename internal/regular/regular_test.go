package regular

import (
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestOpen(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "plain")
	require.NoError(t, os.WriteFile(file, []byte("x"), 0o600))
	link := filepath.Join(dir, "link")
	require.NoError(t, os.Symlink(file, link))
	fifo := filepath.Join(dir, "fifo")
	require.NoError(t, syscall.Mkfifo(fifo, 0o600))

	f, err := Open(file, os.O_RDWR, 0)
	require.NoError(t, err)
	f.Close()
	for path, kind := range map[string]string{link: "symbolic link", fifo: "FIFO", dir: "directory"} {
		_, err := Open(path, os.O_RDONLY, 0) // a FIFO must not block
		var nr *NotRegularError
		require.True(t, errors.As(err, &nr), "%s: %v", path, err)
		assert.Equal(t, kind, nr.Kind, path)
	}
	_, err = Open(filepath.Join(dir, "missing"), os.O_RDONLY, 0)
	assert.ErrorIs(t, err, os.ErrNotExist)
}
