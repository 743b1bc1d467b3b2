// Package atomicfile writes files so that a reader, or a crash, never sees
// a partial one: the data goes to a temporary file in the same directory,
// is synced, and is renamed over the target. Reports, journals' state
// files, health records and quantized models are all written this way.
//
// Only a regular file, or a path that does not exist yet, is replaced that
// way. A rename over anything else would destroy it: as root, an output
// named /dev/null or /dev/full would turn the device node into a regular
// file. So a path naming a character device (a terminal, /dev/null), a
// FIFO or a socket is written straight into, as a shell redirection would;
// a directory is refused with an error that says to name a file in it.
package atomicfile

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Write calls write with a temporary file in path's directory and, if it
// succeeds, syncs the file and renames it to path with permissions perm.
// On any error path is left as it was and the temporary file is removed.
//
// If path names a character device, FIFO or socket (directly, or through
// a symbolic link owned by root or by the caller, such as /dev/stdout),
// write writes straight into it and perm is ignored; a FIFO with no reader
// fails at once rather than blocking. A symbolic link owned by another
// user is refused, as the kernel's protected_symlinks would refuse it in a
// shared directory; one to a regular file has that file replaced and the
// link kept. A directory is refused. Write is WriteContext without a
// deadline: a FIFO whose reader stops reading blocks it.
func Write(path string, perm fs.FileMode, write func(io.Writer) error) error {
	return WriteContext(context.Background(), path, perm, write)
}

// WriteContext is Write with ctx bounding the writes into a FIFO, socket
// or terminal whose reader stops reading: when ctx ends they fail with its
// error. Writes into a regular file are not interrupted.
func WriteContext(ctx context.Context, path string, perm fs.FileMode, write func(io.Writer) error) (err error) {
	target, special, err := classify(path)
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if special {
		return writeInto(ctx, path, write)
	}
	return replace(target, perm, write)
}

// classify says how path is to be written: replaced (target is the path
// to rename over, path itself or the regular file a trusted link names)
// or written into (special).
func classify(path string) (target string, special bool, err error) {
	st, err := os.Lstat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return path, false, nil
	}
	if err != nil {
		return "", false, err
	}
	if st.Mode()&fs.ModeSymlink != 0 {
		if err := trustedLink(path, st); err != nil {
			return "", false, err
		}
		if st, err = os.Stat(path); errors.Is(err, fs.ErrNotExist) {
			return path, false, nil // a dangling link: replaced by the file
		} else if err != nil {
			return "", false, err
		}
		if st.Mode().IsRegular() {
			// Replace the file the link names and keep the link: the name
			// the user gave is the link's, the contents are the file's.
			resolved, err := filepath.EvalSymlinks(path)
			if err != nil {
				return "", false, err
			}
			return resolved, false, nil
		}
	}
	switch m := st.Mode(); {
	case m.IsRegular():
		return path, false, nil
	case m.IsDir():
		return "", false, fmt.Errorf("is a directory: name a file in it, e.g. %s", filepath.Join(path, "out"))
	case m&(fs.ModeCharDevice|fs.ModeNamedPipe|fs.ModeSocket) != 0:
		return path, true, nil
	}
	return "", false, fmt.Errorf("is a %v, not a file, terminal or pipe: name a file", typeName(st.Mode()))
}

// trustedLink refuses a symbolic link owned by someone other than root or
// the caller: in a directory others can write, such a link would make this
// process write where its owner chose.
func trustedLink(path string, st fs.FileInfo) error {
	sys, ok := st.Sys().(*syscall.Stat_t)
	if !ok {
		return nil
	}
	if sys.Uid != 0 && int(sys.Uid) != os.Geteuid() {
		return fmt.Errorf("is a symbolic link owned by uid %d, not by you or root: refusing to follow it (remove it, or name its target)", sys.Uid)
	}
	return nil
}

func typeName(m fs.FileMode) string {
	switch {
	case m&fs.ModeDevice != 0:
		return "block device"
	case m&fs.ModeIrregular != 0:
		return "irregular file"
	}
	return m.Type().String()
}

// replace writes a temporary file beside path and renames it over path.
func replace(path string, perm fs.FileMode, write func(io.Writer) error) (err error) {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
			err = fmt.Errorf("write %s: %w", path, err)
		}
	}()
	if err = write(f); err != nil {
		return err
	}
	// CreateTemp makes the file 0600; results are for others to read too.
	if err = f.Chmod(perm); err != nil {
		return err
	}
	if err = f.Sync(); err != nil {
		return err
	}
	if err = f.Close(); err != nil {
		return err
	}
	return os.Rename(f.Name(), path)
}

// writeInto writes straight into a device, FIFO or socket. It opens
// without blocking, so a FIFO with no reader is an error at once, and
// without O_CREATE or O_TRUNC, so it creates nothing and truncates
// nothing if the path changed since it was looked at.
func writeInto(ctx context.Context, path string, write func(io.Writer) error) (err error) {
	f, err := os.OpenFile(path, os.O_WRONLY|unix.O_NONBLOCK|unix.O_NOCTTY, 0)
	if err != nil {
		switch {
		case errors.Is(err, unix.ENXIO):
			return fmt.Errorf("write %s: nothing is reading it: start the reader (e.g. `cat %s`) first, or name a file", path, path)
		}
		return fmt.Errorf("write %s: %w", path, err)
	}
	defer func() {
		if cerr := f.Close(); err == nil && cerr != nil {
			err = fmt.Errorf("write %s: %w", path, cerr)
		}
	}()
	// A FIFO, socket or terminal opened non-blocking is served by the
	// runtime's poller, so a deadline interrupts a write to a stalled
	// reader; /dev/null and its kind are not pollable and never block.
	stop := context.AfterFunc(ctx, func() { f.SetWriteDeadline(time.Unix(1, 0)) })
	defer stop()
	if err := write(f); err != nil {
		if errors.Is(err, os.ErrDeadlineExceeded) && ctx.Err() != nil {
			err = ctx.Err()
		}
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// WriteFile is Write for data already in memory.
func WriteFile(path string, data []byte, perm fs.FileMode) error {
	return Write(path, perm, func(w io.Writer) error {
		_, err := w.Write(data)
		return err
	})
}
