package atomicfile

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
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
