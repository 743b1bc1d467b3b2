package lab

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/tinyprof/tinyprof/internal/regular"
)

// FlockStore is the default Store: a directory holding, for each board,
// ID.lock and ID.health (the id escaped to be a file name).
//
// A lease is an exclusive flock(2) on ID.lock. The kernel drops it when
// the holding process exits for any reason, kill -9 included, so a lease
// is never stranded; the holder record written into the file is then
// stale, and the next holder overwrites it. flock is per open file, so two
// leases in one process exclude each other too. Lock files are never
// removed: removing one while another process waits on it would let two
// holders lock two different files.
//
// ID.health is replaced atomically (a temporary file renamed over it), so
// a reader sees the old record or the new one, never half of one.
//
// Waiters queue in it too (see Enqueue), as .ticket-* files.
//
// Anyone who can write the directory can plant links or FIFOs in it, so
// NewFlockStore insists that it is private, and every file in it is opened
// without following links and without blocking, and refused unless it is
// a regular file: a bad entry costs its board (*EntryError), never the
// lab.
//
// flock is not reliable over NFS; keep the directory on a local disk.
type FlockStore struct {
	dir string
}

// NewFlockStore returns a store in dir, creating it private (0700) if
// needed. It refuses a dir that is a symbolic link, is owned by another
// user or is writable by group or others — anyone who can write there can
// plant links that turn a lease into a write to a file of their choosing —
// and fails with a message naming dir if dir cannot be created or written.
func NewFlockStore(dir string) (*FlockStore, error) {
	if dir == "" {
		return nil, errors.New("lab: lease directory is empty")
	}
	if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
		return nil, leaseDirError(dir, err)
	}
	if err := os.Mkdir(dir, 0o700); err != nil && !errors.Is(err, fs.ErrExist) {
		return nil, leaseDirError(dir, err)
	}
	if err := checkPrivateDir(dir); err != nil {
		return nil, err
	}
	f, err := os.CreateTemp(dir, ".probe-*")
	if err != nil {
		return nil, leaseDirError(dir, err)
	}
	f.Close()
	os.Remove(f.Name())
	return &FlockStore{dir: dir}, nil
}

// checkPrivateDir refuses a lease directory that another user could plant
// files in.
func checkPrivateDir(dir string) error {
	st, err := os.Lstat(dir)
	if err != nil {
		return leaseDirError(dir, err)
	}
	fix := "remove it, or point -hwtest.leasedir, TINYPROF_LEASE_DIR or --lease-dir at a directory of your own"
	switch {
	case st.Mode()&fs.ModeSymlink != 0:
		return fmt.Errorf("lease directory %s is a symbolic link: refusing it, since whoever made the link chooses where leases write; %s", dir, fix)
	case !st.IsDir():
		return fmt.Errorf("lease directory %s is a %s, not a directory: %s", dir, regular.Kind(st.Mode()), fix)
	}
	if sys, ok := st.Sys().(*syscall.Stat_t); ok && int(sys.Uid) != os.Geteuid() {
		return fmt.Errorf("lease directory %s is owned by uid %d, not by you (uid %d): someone else may have made it to redirect your leases; %s", dir, sys.Uid, os.Geteuid(), fix)
	}
	if st.Mode().Perm()&0o022 != 0 {
		return fmt.Errorf("lease directory %s is writable by group or others (mode %04o): run chmod go-w %s, or %s", dir, st.Mode().Perm(), dir, fix)
	}
	return nil
}

func leaseDirError(dir string, err error) error {
	return &StoreError{Path: dir, Err: err}
}

// maxRecord bounds a holder or health record read from the store: they
// are a few hundred bytes, and a planted file must not cost memory.
const maxRecord = 64 << 10

// openEntry opens the store file path of board id without following a
// symbolic link and without blocking (a FIFO in its place must not hang a
// lease), and refuses anything but a regular file. Errors about the entry
// itself are *EntryError; others are *StoreError.
func openEntry(id, path string, flag int, perm fs.FileMode) (*os.File, error) {
	f, err := regular.Open(path, flag, perm)
	var nr *regular.NotRegularError
	switch {
	case err == nil:
		return f, nil
	case errors.Is(err, fs.ErrNotExist):
		return nil, err
	case errors.As(err, &nr) && nr.Kind == "symbolic link":
		return nil, &EntryError{ID: id, Path: path, Problem: "is a symbolic link: refusing to follow it; remove it (lease files are plain files)"}
	case errors.As(err, &nr) && nr.Kind == "directory":
		return nil, &EntryError{ID: id, Path: path, Problem: "is a directory: remove it (lease files are plain files)"}
	case errors.As(err, &nr):
		return nil, &EntryError{ID: id, Path: path, Problem: "is a " + nr.Kind + ", not a regular file: remove it (lease files are plain files)"}
	}
	return nil, &StoreError{Op: "open", Path: path, Err: err}
}

// readRecord reads f, a record of at most maxRecord bytes, from its start.
func readRecord(id string, f *os.File) ([]byte, error) {
	data, err := io.ReadAll(io.NewSectionReader(f, 0, maxRecord+1))
	if err != nil {
		return nil, &StoreError{Op: "read", Path: f.Name(), Err: err}
	}
	if len(data) > maxRecord {
		return nil, &EntryError{ID: id, Path: f.Name(), Problem: fmt.Sprintf("is over %d bytes, not a record of ours: delete it", maxRecord)}
	}
	return data, nil
}

// Dir returns the store's directory.
func (s *FlockStore) Dir() string { return s.dir }

// fileName escapes id into a file name: ids are USB serial numbers, which
// may hold '/' or ':'.
func fileName(id string) string {
	var b strings.Builder
	for i := 0; i < len(id); i++ {
		c := id[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '-', c == '_', c == '.' && i > 0:
			b.WriteByte(c)
		default:
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	return b.String()
}

func unescapeName(name string) string {
	var b strings.Builder
	for i := 0; i < len(name); i++ {
		if name[i] == '%' && i+2 < len(name) {
			if c, err := strconv.ParseUint(name[i+1:i+3], 16, 8); err == nil {
				b.WriteByte(byte(c))
				i += 2
				continue
			}
		}
		b.WriteByte(name[i])
	}
	return b.String()
}

func (s *FlockStore) lockPath(id string) string { return filepath.Join(s.dir, fileName(id)+".lock") }
func (s *FlockStore) healthPath(id string) string {
	return filepath.Join(s.dir, fileName(id)+".health")
}

// TryAcquire implements Store.
func (s *FlockStore) TryAcquire(ctx context.Context, id string, h Holder) (func() error, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	path := s.lockPath(id)
	f, err := openEntry(id, path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, err
	}
	if err := flock(f, unix.LOCK_EX|unix.LOCK_NB); err != nil {
		defer f.Close()
		if errors.Is(err, unix.EWOULDBLOCK) {
			return nil, &HeldError{ID: id, Holder: readHolder(id, f)}
		}
		return nil, &StoreError{Op: "lock", Path: path, Err: err}
	}
	rec, _ := json.Marshal(h)
	rec = append(rec, '\n')
	// Overwrite in place: the file must keep its inode, which is what is locked.
	if _, err := f.WriteAt(rec, 0); err == nil {
		err = f.Truncate(int64(len(rec)))
	}
	if err != nil {
		f.Close()
		return nil, &StoreError{Op: "write holder record", Path: path, Err: err}
	}
	var once sync.Once
	var cerr error
	return func() error {
		once.Do(func() {
			f.Truncate(0) // a released lease leaves no holder record behind
			cerr = f.Close()
		})
		return cerr
	}, nil
}

// flock retries flock(2) on EINTR, which the Go runtime's signals cause.
func flock(f *os.File, how int) error {
	for {
		err := unix.Flock(int(f.Fd()), how)
		if err != unix.EINTR {
			return err
		}
	}
}

// readHolder reads the holder record in the lock file f; nil if there is
// none, or it is being rewritten, or it is not ours.
func readHolder(id string, f *os.File) *Holder {
	data, err := readRecord(id, f)
	if err != nil || len(data) == 0 {
		return nil
	}
	var h Holder
	if err := json.Unmarshal(data, &h); err != nil {
		return nil
	}
	return &h
}

// Inspect implements Store. A board whose entry is unusable gives an
// *EntryError, a failing store a *StoreError.
func (s *FlockStore) Inspect(ctx context.Context, id string) (LeaseInfo, error) {
	li := LeaseInfo{ID: id}
	h, err := s.health(id)
	if err != nil {
		return li, err
	}
	li.Health = h
	f, err := openEntry(id, s.lockPath(id), os.O_RDONLY, 0)
	if errors.Is(err, fs.ErrNotExist) {
		return li, nil
	}
	if err != nil {
		return li, err
	}
	defer f.Close()
	// A shared lock is granted only when nobody holds the exclusive one.
	// It can make a concurrent TryAcquire fail for an instant; Acquire then
	// simply tries again.
	switch err := flock(f, unix.LOCK_SH|unix.LOCK_NB); {
	case err == nil:
		flock(f, unix.LOCK_UN)
	case errors.Is(err, unix.EWOULDBLOCK):
		li.Held = true
	default:
		return li, &StoreError{Op: "inspect", Path: s.lockPath(id), Err: err}
	}
	li.Holder = readHolder(id, f)
	return li, nil
}

func (s *FlockStore) health(id string) (Health, error) {
	var h Health
	path := s.healthPath(id)
	f, err := openEntry(id, path, os.O_RDONLY, 0)
	if errors.Is(err, fs.ErrNotExist) {
		return h, nil
	}
	if err != nil {
		return h, err
	}
	defer f.Close()
	data, err := readRecord(id, f)
	if err != nil {
		return h, err
	}
	if err := json.Unmarshal(data, &h); err != nil {
		return h, &EntryError{ID: id, Path: path, Problem: fmt.Sprintf("is corrupt (%v): delete it to clear the board's health record", err)}
	}
	return h, nil
}

// SetHealth implements Store. The record is written to a new temporary
// file and renamed into place, which replaces a link rather than
// following it.
func (s *FlockStore) SetHealth(ctx context.Context, id string, h Health) error {
	data, err := json.MarshalIndent(h, "", "  ")
	if err != nil {
		return err
	}
	path := s.healthPath(id)
	if st, err := os.Lstat(path); err == nil && !st.Mode().IsRegular() {
		return &EntryError{ID: id, Path: path, Problem: "is a " + regular.Kind(st.Mode()) + ", not a regular file: remove it (lease files are plain files)"}
	}
	f, err := os.CreateTemp(s.dir, ".health-*")
	if err != nil {
		return &StoreError{Op: "write health record", Path: path, Err: err}
	}
	tmp := f.Name()
	_, err = f.Write(append(data, '\n'))
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return &StoreError{Op: "write health record", Path: path, Err: err}
	}
	return nil
}

// List implements Store.
func (s *FlockStore) List(ctx context.Context) ([]LeaseInfo, error) {
	ents, err := os.ReadDir(s.dir)
	if err != nil {
		return nil, &StoreError{Op: "list", Path: s.dir, Err: err}
	}
	ids := map[string]bool{}
	for _, e := range ents {
		name := e.Name()
		if strings.HasPrefix(name, ".") {
			continue
		}
		for _, ext := range []string{".lock", ".health"} {
			if base, ok := strings.CutSuffix(name, ext); ok {
				ids[unescapeName(base)] = true
			}
		}
	}
	var out []LeaseInfo
	for id := range ids {
		li, err := s.Inspect(ctx, id)
		var ee *EntryError
		if errors.As(err, &ee) {
			// One bad entry is that board's problem, not the lab's.
			li = LeaseInfo{ID: id, Problem: ee.Path + " " + ee.Problem}
		} else if err != nil {
			return nil, err
		}
		out = append(out, li)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, nil
}

// ListLeases reports every board in the lease directory dir: who holds it
// (or held it last, if that holder died) and its health. A directory that
// does not exist yet has no leases. This is `tiny-profiler leases`.
func ListLeases(dir string) ([]LeaseInfo, error) {
	if _, err := os.Stat(dir); errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	return (&FlockStore{dir: dir}).List(context.Background())
}
