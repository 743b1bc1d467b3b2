package lab

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Store is where leases and board health live. It is small on purpose: the
// default FlockStore serves every process on one host through OS file
// locks; a store shared by several hosts (etcd, a lab server) implements
// the same four methods and nothing above it changes.
//
// Implementations must be safe for concurrent use, and a lease must end
// when its holder dies, without anyone cleaning up after it.
type Store interface {
	// TryAcquire takes the lease on board id for h without waiting. If
	// another holder has it, the error is a *HeldError naming the holder.
	// The returned release function ends the lease; it is safe to call
	// more than once.
	TryAcquire(ctx context.Context, id string, h Holder) (release func() error, err error)
	// Inspect reports who holds board id, if anyone, and its health.
	Inspect(ctx context.Context, id string) (LeaseInfo, error)
	// SetHealth records board id's health. The caller must hold its lease,
	// so that two writers never race.
	SetHealth(ctx context.Context, id string, h Health) error
	// List reports every board the store has seen, sorted by id.
	List(ctx context.Context) ([]LeaseInfo, error)
}

// Holder identifies who holds a lease.
type Holder struct {
	PID   int       `json:"pid"`
	Host  string    `json:"host"`
	Test  string    `json:"test,omitempty"` // the test's full name, or a command
	Since time.Time `json:"since"`
}

func (h Holder) String() string {
	s := fmt.Sprintf("pid %d on %s", h.PID, h.Host)
	if h.Test != "" {
		s += " (" + h.Test + ")"
	}
	if !h.Since.IsZero() {
		s += fmt.Sprintf(" for %v", time.Since(h.Since).Round(time.Millisecond))
	}
	return s
}

// Status is a board's health as the last check found it.
type Status string

// The health statuses. The zero Status means never checked, and counts as
// healthy.
const (
	Healthy     Status = "healthy"
	Quarantined Status = "quarantined" // failed a check, and again after a reset
)

// Health is the outcome of the last health check of a board, kept beside
// its lock so that every process sees it.
type Health struct {
	Status  Status    `json:"status"`
	Reason  string    `json:"reason,omitempty"` // why it was quarantined
	Since   time.Time `json:"since"`            // when Status last changed
	Checked time.Time `json:"checked"`          // when it was last checked
	// Failures counts consecutive failed checks.
	Failures int    `json:"failures,omitempty"`
	By       Holder `json:"by"` // who checked it
}

// LeaseInfo is one board's lease and health, as Store.List reports them.
type LeaseInfo struct {
	ID string `json:"id"`
	// Held reports whether someone holds the lease now.
	Held bool `json:"held"`
	// Holder is who holds it; when Held is false and Holder is set, it is
	// the last holder, who left without releasing (killed): a stale record
	// that the next lease overwrites.
	Holder *Holder `json:"holder,omitempty"`
	Health Health  `json:"health"`
	// Problem, when set, says why the board's entry in the store cannot be
	// read (a corrupt health record, a lock path that is not a file) and
	// what to do; List reports such a board instead of failing, and the
	// lab passes it over until someone fixes the entry.
	Problem string `json:"problem,omitempty"`
}

func (li LeaseInfo) String() string {
	s := li.ID + ": "
	switch {
	case li.Held && li.Holder != nil:
		s += "held by " + li.Holder.String()
	case li.Held:
		s += "held (holder not yet recorded)"
	default:
		s += "free"
	}
	if li.Problem != "" {
		s += "; unusable: " + li.Problem
	}
	if li.Health.Status == Quarantined {
		s += fmt.Sprintf("; quarantined since %s: %s", li.Health.Since.Format(time.RFC3339), li.Health.Reason)
	}
	return s
}

// ErrHeld matches, with errors.Is, a *HeldError.
var ErrHeld = errors.New("board is leased by another holder")

// HeldError is TryAcquire's answer when another holder has the lease.
type HeldError struct {
	ID     string
	Holder *Holder // nil if the holder has not written its record yet
}

func (e *HeldError) Error() string {
	if e.Holder == nil {
		return fmt.Sprintf("board %s is leased by another holder", e.ID)
	}
	return fmt.Sprintf("board %s is leased by %s", e.ID, e.Holder)
}

func (e *HeldError) Is(target error) bool { return target == ErrHeld }

// ErrStore matches, with errors.Is, a *StoreError: the store itself failed
// (disk full, read-only, permission denied), which no amount of waiting
// for a board mends.
var ErrStore = errors.New("lease store failed")

// StoreError is a failure of the store itself rather than of one board's
// entry. The lab reports it at once instead of waiting for a board.
type StoreError struct {
	Op   string // what was being done: "lock", "write holder record", …; "" for opening the directory
	Path string // the file or directory involved
	Err  error
}

func (e *StoreError) Error() string {
	what := "lease store: " + e.Op + " " + e.Path
	if e.Op == "" {
		what = "lease directory " + e.Path + " is not usable"
	}
	return fmt.Sprintf("%s: %v (free space, make it writable, or point -hwtest.leasedir, TINYPROF_LEASE_DIR or --lease-dir at a writable local directory)", what, e.Err)
}

func (e *StoreError) Unwrap() error { return e.Err }

func (e *StoreError) Is(target error) bool { return target == ErrStore }

// ErrBadEntry matches, with errors.Is, an *EntryError.
var ErrBadEntry = errors.New("board's entry in the lease store is unusable")

// EntryError says that one board's entry in the store is unusable: its
// health record is corrupt, or its lock path names something other than a
// regular file. Only that board is affected; the lab passes it over.
type EntryError struct {
	ID   string
	Path string
	// Problem says what is wrong and what to do, e.g. "is a directory:
	// remove it".
	Problem string
}

func (e *EntryError) Error() string {
	return fmt.Sprintf("board %s: %s %s", e.ID, e.Path, e.Problem)
}

func (e *EntryError) Is(target error) bool { return target == ErrBadEntry }

// Queue is a capability a Store may add, discovered with a type
// assertion: a line of waiters served in arrival order, so that a process
// that releases a board and asks again at once cannot take it from one
// that has waited longer. Without it, Lab.AcquireN falls back to
// randomised retries, which are fast but not fair.
type Queue interface {
	// Enqueue puts a waiter for any of the boards ids at the back of the
	// line. The caller must Leave the ticket; if its holder dies first,
	// the ticket must stop counting without anyone cleaning up after it.
	Enqueue(ctx context.Context, ids []string, h Holder) (Ticket, error)
}

// Ticket is one waiter's place in a Queue.
type Ticket interface {
	// Ahead reports how many live waiters that want any of the same
	// boards arrived before this one; 0 means it is this waiter's turn.
	Ahead(ctx context.Context) (int, error)
	// Leave gives the place up. It is safe to call more than once.
	Leave() error
}

// Acquirer is a capability a Store may add, discovered with a type
// assertion: a blocking lease of any n of several boards that serves
// waiters in order of arrival and is woken by the store (a watch) rather
// than by polling. Lab.AcquireN uses it when the store has it; a store
// without it (FlockStore) is served by TryAcquire and, if it is a Queue,
// by tickets.
type Acquirer interface {
	// Acquire waits until n of the boards ids are free for h and takes
	// them, or ctx ends. Waiters for overlapping boards are served in
	// the order they called Acquire; two waiters that each want several
	// boards cannot deadlock. The caller must Release every Held.
	Acquire(ctx context.Context, ids []string, n int, h Holder) ([]Held, error)
}

// Held is one board an Acquirer leased.
type Held interface {
	// Board is the board's id.
	Board() string
	// Release ends the lease. It is safe to call more than once.
	Release() error
	// Lost is closed if the lease ends while it is held — it expired, was
	// revoked, or the holder was cut off from the store — and Err then
	// says why. The holder must stop using the board at once: it may
	// already be someone else's.
	Lost() <-chan struct{}
	Err() error
}
