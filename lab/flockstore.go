package lab

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/tinyprof/tinyprof/internal/atomicfile"
	"golang.org/x/sys/unix"
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
// flock is not reliable over NFS; keep the directory on a local disk.
type FlockStore struct {
	dir string
}

// NewFlockStore returns a store in dir, creating it if needed. It fails
// with a message naming dir if dir cannot be created or written.
func NewFlockStore(dir string) (*FlockStore, error) {
	if dir == "" {
		return nil, errors.New("lab: lease directory is empty")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, leaseDirError(dir, err)
	}
	f, err := os.CreateTemp(dir, ".probe-*")
	if err != nil {
		return nil, leaseDirError(dir, err)
	}
	f.Close()
	os.Remove(f.Name())
	return &FlockStore{dir: dir}, nil
}

func leaseDirError(dir string, err error) error {
	return fmt.Errorf("lease directory %s is not usable: %w (point -hwtest.leasedir or TINYPROF_LEASE_DIR, or the CLI's --lease-dir, at a writable local directory)", dir, err)
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
	f, err := os.OpenFile(s.lockPath(id), os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, leaseDirError(s.dir, err)
	}
	if err := flock(f, unix.LOCK_EX|unix.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, unix.EWOULDBLOCK) {
			holder, _ := readHolder(s.lockPath(id))
			return nil, &HeldError{ID: id, Holder: holder}
		}
		return nil, fmt.Errorf("lock %s: %w", s.lockPath(id), err)
	}
	rec, _ := json.Marshal(h)
	rec = append(rec, '\n')
	// Overwrite in place: the file must keep its inode, which is what is locked.
	if _, err := f.WriteAt(rec, 0); err == nil {
		err = f.Truncate(int64(len(rec)))
	}
	if err != nil {
		f.Close()
		return nil, leaseDirError(s.dir, err)
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

func readHolder(path string) (*Holder, error) {
	data, err := os.ReadFile(path)
	if err != nil || len(data) == 0 {
		return nil, err
	}
	var h Holder
	if err := json.Unmarshal(data, &h); err != nil {
		return nil, nil // being rewritten: unknown for now
	}
	return &h, nil
}

// Inspect implements Store.
func (s *FlockStore) Inspect(ctx context.Context, id string) (LeaseInfo, error) {
	li := LeaseInfo{ID: id}
	h, err := s.health(id)
	if err != nil {
		return li, err
	}
	li.Health = h
	f, err := os.Open(s.lockPath(id))
	if errors.Is(err, os.ErrNotExist) {
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
		return li, fmt.Errorf("inspect %s: %w", s.lockPath(id), err)
	}
	li.Holder, _ = readHolder(s.lockPath(id))
	return li, nil
}

func (s *FlockStore) health(id string) (Health, error) {
	var h Health
	data, err := os.ReadFile(s.healthPath(id))
	if errors.Is(err, os.ErrNotExist) {
		return h, nil
	}
	if err != nil {
		return h, err
	}
	if err := json.Unmarshal(data, &h); err != nil {
		return h, fmt.Errorf("health record %s is corrupt (delete it to clear it): %w", s.healthPath(id), err)
	}
	return h, nil
}

// SetHealth implements Store. The record is written to a temporary file
// and renamed into place.
func (s *FlockStore) SetHealth(ctx context.Context, id string, h Health) error {
	data, err := json.MarshalIndent(h, "", "  ")
	if err != nil {
		return err
	}
	return atomicfile.WriteFile(s.healthPath(id), append(data, '\n'), 0o644)
}

// List implements Store.
func (s *FlockStore) List(ctx context.Context) ([]LeaseInfo, error) {
	ents, err := os.ReadDir(s.dir)
	if err != nil {
		return nil, err
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
		if err != nil {
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
