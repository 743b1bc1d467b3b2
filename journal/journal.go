package journal

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"golang.org/x/sys/unix"

	"github.com/tinyprof/tinyprof/internal/regular"
	"github.com/tinyprof/tinyprof/runbook"
)

// FileName is the name of the journal's current file in its directory;
// rotated files are FileName.1 (the newest) to FileName.N.
const FileName = "journal.jsonl"

const lockName = "journal.lock"

// Options configures a Journal. The zero value is usable.
type Options struct {
	// MaxSize is the size in bytes past which the current file is rotated
	// before the next append. Default 4 MiB.
	MaxSize int64
	// Keep is how many rotated files are kept; older ones are deleted.
	// Default 4, so the journal holds at most about (Keep+1)×MaxSize bytes.
	Keep int
	// MaxLine bounds one encoded event in bytes; longer events have their
	// details replaced by a note saying so. Readers skip longer lines.
	// Default 64 KiB.
	MaxLine int
}

func (o Options) withDefaults() Options {
	if o.MaxSize <= 0 {
		o.MaxSize = 4 << 20
	}
	if o.Keep <= 0 {
		o.Keep = 4
	}
	if o.MaxLine <= 0 {
		o.MaxLine = 64 << 10
	}
	return o
}

// Journal is an append-only event journal in a directory. Its methods may
// be called concurrently, from several goroutines and processes.
type Journal struct {
	dir  string
	opts Options
	host string
	pid  int

	// Test hooks, nil outside tests: testHookListed runs in Read between
	// listing the files and opening them; testHookSyncedDir after each
	// fsync of the directory.
	testHookListed    func()
	testHookSyncedDir func()
}

// Open returns the journal in dir, creating the directory if needed. It
// holds no file open between calls, so there is nothing to close.
func Open(dir string, opts Options) (*Journal, error) {
	if dir == "" {
		return nil, errors.New("journal: no directory given (set TINYPROF_STATE_DIR or pass --state-dir)")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("journal directory %s is not usable: %w (point TINYPROF_STATE_DIR or --state-dir at a writable local directory)", dir, err)
	}
	host, _ := os.Hostname()
	return &Journal{dir: dir, opts: opts.withDefaults(), host: host, pid: os.Getpid()}, nil
}

// Dir returns the journal's directory.
func (j *Journal) Dir() string { return j.dir }

// Path returns the current file's path.
func (j *Journal) Path() string { return filepath.Join(j.dir, FileName) }

// Append writes events to the journal and fsyncs it before returning. An
// event with a zero Time gets the current time; a missing Severity is
// Info. It waits for other writers until ctx is done.
func (j *Journal) Append(ctx context.Context, events ...Event) error {
	if len(events) == 0 {
		return nil
	}
	var buf []byte
	for _, e := range events {
		line, err := j.encode(e)
		if err != nil {
			return err
		}
		buf = append(buf, line...)
	}
	unlock, err := j.lock(ctx, unix.LOCK_EX)
	if err != nil {
		return err
	}
	defer unlock()
	if err := j.rotateIfFull(); err != nil {
		return err
	}
	f, err := j.openCurrent()
	if err != nil {
		return err
	}
	defer f.Close()
	// A writer killed mid-line leaves a torn last line: start on a fresh
	// one so that this event is not glued to the fragment.
	if torn, err := endsTorn(f); err != nil {
		return fmt.Errorf("journal: %w", err)
	} else if torn {
		buf = append([]byte{'\n'}, buf...)
	}
	if _, err := f.Write(buf); err != nil {
		return fmt.Errorf("journal: append to %s: %w (is the disk full?)", j.Path(), err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("journal: sync %s: %w", j.Path(), err)
	}
	return nil
}

// openCurrent opens the current file for appending, creating it if
// needed. A file it creates has its directory entry fsynced, so that an
// fsynced event is not lost with a file whose name never reached the disk.
// The caller holds the lock, so no other writer creates it meanwhile.
func (j *Journal) openCurrent() (*os.File, error) {
	f, err := openRegular(j.Path(), os.O_RDWR|os.O_APPEND, 0)
	if err == nil {
		return f, nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	f, err = openRegular(j.Path(), os.O_RDWR|os.O_APPEND|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return nil, err
	}
	if err := j.syncDir(); err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

// encode returns e as one JSON line, bounded by MaxLine.
func (j *Journal) encode(e Event) ([]byte, error) {
	if e.Time.IsZero() {
		e.Time = time.Now()
	}
	e.Time = e.Time.UTC()
	if e.Severity == "" {
		e.Severity = runbook.Info
	}
	if e.Kind == "" {
		return nil, errors.New("journal: event has no kind")
	}
	if e.Host == "" {
		e.Host, e.PID = j.host, j.pid
	}
	line, err := json.Marshal(e)
	if err != nil {
		// A detail that cannot be encoded (a channel, NaN): keep the event.
		e.Details = map[string]any{"unencodable_details": err.Error()}
		if line, err = json.Marshal(e); err != nil {
			return nil, fmt.Errorf("journal: encode event: %w", err)
		}
	}
	if len(line)+1 > j.opts.MaxLine {
		e.Details = map[string]any{"truncated": fmt.Sprintf("details of %d bytes dropped: over the %d-byte line limit", len(line), j.opts.MaxLine)}
		if len(e.Message) > 1024 {
			e.Message = e.Message[:1024] + "…"
		}
		if line, err = json.Marshal(e); err != nil {
			return nil, fmt.Errorf("journal: encode event: %w", err)
		}
	}
	return append(line, '\n'), nil
}

// endsTorn reports whether f is non-empty and does not end in a newline.
func endsTorn(f *os.File) (bool, error) {
	st, err := f.Stat()
	if err != nil || st.Size() == 0 {
		return false, err
	}
	var b [1]byte
	if _, err := f.ReadAt(b[:], st.Size()-1); err != nil && err != io.EOF {
		return false, err
	}
	return b[0] != '\n', nil
}

// lock takes the directory's lock, polling until ctx is done: how is
// unix.LOCK_EX for a writer, which may rotate, or unix.LOCK_SH for a
// reader, which must see the files as no rotation has half moved them.
// The returned func releases it.
func (j *Journal) lock(ctx context.Context, how int) (func(), error) {
	f, err := openRegular(filepath.Join(j.dir, lockName), os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, err
	}
	delay := time.Millisecond
	for {
		err := unix.Flock(int(f.Fd()), how|unix.LOCK_NB)
		if err == nil {
			return func() { f.Close() }, nil // closing drops the lock
		}
		if !errors.Is(err, unix.EWOULDBLOCK) && !errors.Is(err, unix.EINTR) {
			f.Close()
			return nil, fmt.Errorf("journal: lock %s: %w", f.Name(), err)
		}
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			f.Close()
			who := "another writer"
			if how == unix.LOCK_EX {
				who = "other readers and writers"
			}
			return nil, fmt.Errorf("journal: waiting for %s: %w", who, ctx.Err())
		case <-t.C:
		}
		delay = min(delay*2, 50*time.Millisecond)
	}
}

// rotateIfFull renames FileName to FileName.1, shifting older files up and
// deleting the oldest, when the current file has reached MaxSize. The
// caller holds the lock.
func (j *Journal) rotateIfFull() error {
	st, err := os.Lstat(j.Path())
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("journal: %w", err)
	}
	if !st.Mode().IsRegular() {
		return notRegular(&regular.NotRegularError{Path: j.Path(), Kind: regular.Kind(st.Mode())})
	}
	if st.Size() < j.opts.MaxSize {
		return nil
	}
	if err := os.Remove(j.rotated(j.opts.Keep)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("journal: rotate: %w", err)
	}
	for i := j.opts.Keep - 1; i >= 1; i-- {
		if err := os.Rename(j.rotated(i), j.rotated(i+1)); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("journal: rotate: %w", err)
		}
	}
	if err := os.Rename(j.Path(), j.rotated(1)); err != nil {
		return fmt.Errorf("journal: rotate: %w", err)
	}
	return j.syncDir()
}

func (j *Journal) rotated(i int) string { return j.Path() + "." + strconv.Itoa(i) }

// syncDir makes renames and new files in the journal's directory durable.
func (j *Journal) syncDir() error {
	d, err := os.OpenFile(j.dir, os.O_RDONLY|unix.O_DIRECTORY|unix.O_NONBLOCK, 0)
	if err != nil {
		return fmt.Errorf("journal: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("journal: sync %s: %w", j.dir, err)
	}
	if j.testHookSyncedDir != nil {
		j.testHookSyncedDir()
	}
	return nil
}

// openRegular opens one of the journal's files. It follows no symbolic
// link (a link planted in the directory would make a writer append to, or
// a reader read, a file of someone else's choosing), does not block (a
// FIFO in place of a file would block the open until a peer came, past
// every context and Ctrl-C) and refuses anything but a regular file. The
// file is opened close-on-exec, as os.OpenFile always does.
func openRegular(path string, flag int, perm os.FileMode) (*os.File, error) {
	f, err := regular.Open(path, flag, perm)
	var nr *regular.NotRegularError
	switch {
	case errors.As(err, &nr) && nr.Kind == "symbolic link":
		return nil, fmt.Errorf("journal: %s is a symbolic link, %w: refusing to follow it; remove it (the journal's files are plain files)", path, errNotRegular)
	case errors.As(err, &nr):
		return nil, notRegular(nr)
	case err != nil:
		return nil, fmt.Errorf("journal: %w", err)
	}
	return f, nil
}

// errNotRegular marks a journal path that names something other than a
// regular file; readers skip such a file, writers stop.
var errNotRegular = errors.New("not a regular file")

func notRegular(nr *regular.NotRegularError) error {
	return fmt.Errorf("journal: %s is a %s, %w: remove it, and the journal starts a new file", nr.Path, nr.Kind, errNotRegular)
}
