// Package regular opens files that must be plain files — journal files,
// lease locks and health records — without following a symbolic link (a
// planted link would make a writer write a file of someone else's
// choosing) and without blocking (a FIFO in their place would hang the
// open past every context and Ctrl-C).
package regular

import (
	"errors"
	"io/fs"
	"os"

	"golang.org/x/sys/unix"
)

// NotRegularError says that a path names something other than a regular
// file; Kind names what ("symbolic link", "FIFO", "directory", …).
type NotRegularError struct {
	Path string
	Kind string
}

func (e *NotRegularError) Error() string { return e.Path + " is a " + e.Kind + ", not a regular file" }

// Open opens path with flag and perm, adding O_NOFOLLOW, O_NONBLOCK and
// O_CLOEXEC, and refuses anything but a regular file with a
// *NotRegularError. Other errors (a missing file included) are returned
// as os.OpenFile and File.Stat return them.
func Open(path string, flag int, perm fs.FileMode) (*os.File, error) {
	f, err := os.OpenFile(path, flag|unix.O_NOFOLLOW|unix.O_NONBLOCK|unix.O_CLOEXEC, perm)
	switch {
	case errors.Is(err, unix.ELOOP):
		return nil, &NotRegularError{Path: path, Kind: "symbolic link"}
	case errors.Is(err, unix.EISDIR):
		return nil, &NotRegularError{Path: path, Kind: "directory"}
	case err != nil:
		return nil, err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	if !st.Mode().IsRegular() {
		f.Close()
		return nil, &NotRegularError{Path: path, Kind: Kind(st.Mode())}
	}
	return f, nil
}

// Kind names the type of file m describes.
func Kind(m fs.FileMode) string {
	switch {
	case m.IsRegular():
		return "regular file"
	case m&fs.ModeSymlink != 0:
		return "symbolic link"
	case m&fs.ModeNamedPipe != 0:
		return "FIFO"
	case m&fs.ModeSocket != 0:
		return "socket"
	case m&fs.ModeCharDevice != 0:
		return "character device"
	case m&fs.ModeDevice != 0:
		return "block device"
	case m.IsDir():
		return "directory"
	}
	return "special file"
}
