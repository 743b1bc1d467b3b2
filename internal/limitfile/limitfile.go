// Package limitfile reads files named by users with a bound on what they
// may cost: a path that names /dev/zero, a FIFO with no writer or a
// multi-gigabyte file by mistake gets a clear error, not a hang or an
// exhausted memory.
package limitfile

import (
	"errors"
	"fmt"
	"io"
	"os"

	"golang.org/x/sys/unix"
)

// ErrTooLarge matches, with errors.Is, the error of a file over its limit.
var ErrTooLarge = errors.New("file is over its size limit")

// ReadFile reads the file at path whole, refusing one of more than limit
// bytes; what names the file in errors ("the baseline"). It opens the
// file without blocking, so a FIFO with no writer reads as empty instead
// of hanging, and stops reading a device or pipe at the limit.
func ReadFile(path, what string, limit int64) ([]byte, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", what, err)
	}
	defer f.Close()
	if st, err := f.Stat(); err == nil && st.Mode().IsRegular() && st.Size() > limit {
		return nil, tooLarge(path, what, limit, st.Size())
	}
	data, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", what, err)
	}
	if int64(len(data)) > limit {
		return nil, tooLarge(path, what, limit, -1)
	}
	return data, nil
}

func tooLarge(path, what string, limit, size int64) error {
	got := "more"
	if size >= 0 {
		got = fmt.Sprintf("%d bytes", size)
	}
	return fmt.Errorf("%s %s holds %s, over the %d-byte limit for %s: %w (is it the right file?)", what, path, got, limit, what, ErrTooLarge)
}
