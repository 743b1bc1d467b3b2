package limitfile

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
	"golang.org/x/sys/unix"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestReadFile(t *testing.T) {
	dir := t.TempDir()
	small := filepath.Join(dir, "small")
	require.NoError(t, os.WriteFile(small, []byte("0123456789"), 0o600))
	fifo := filepath.Join(dir, "fifo")
	require.NoError(t, unix.Mkfifo(fifo, 0o600))

	tests := []struct {
		name, path string
		limit      int64
		want       string // error; "" for none
		data       string
	}{
		{"within", small, 10, "", "0123456789"},
		{"over", small, 9, "the input " + small + " holds 10 bytes, over the 9-byte limit", ""},
		{"endless device", "/dev/zero", 1 << 20, "holds more, over the 1048576-byte limit", ""},
		{"fifo without writer", fifo, 10, "", ""},
		{"missing", filepath.Join(dir, "none"), 10, "no such file", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data, err := ReadFile(tt.path, "the input", tt.limit)
			if tt.want != "" {
				require.ErrorContains(t, err, tt.want)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tt.data, string(data))
		})
	}
	_, err := ReadFile(small, "the input", 1)
	require.ErrorIs(t, err, ErrTooLarge)
}
