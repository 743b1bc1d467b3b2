package etcdstore

import (
	"errors"
	"fmt"
)

// The conditions this package's errors report; match them with errors.Is.
var (
	// ErrFenced: a write on a board's behalf was refused because the lease
	// it was made under has ended (*FenceError).
	ErrFenced = errors.New("lease has ended: write refused")
	// ErrNotHeld: SetHealth was called for a board this store holds no
	// lease on.
	ErrNotHeld = errors.New("no lease held on the board")
	// ErrLost: a lease ended while its holder still held it (Lease.Err).
	ErrLost = errors.New("lease lost")
)

// FenceError is SetHealth's answer when the lease it writes under has
// ended: its key, created at Revision, no longer exists, so another holder
// may own the board and its record must not be overwritten.
type FenceError struct {
	ID       string
	Key      string
	Revision int64
}

func (e *FenceError) Error() string {
	return fmt.Sprintf("board %s: the lease taken at revision %d has ended (expired or revoked), so its health write was refused; the board may have a new holder", e.ID, e.Revision)
}

// Is reports whether target is ErrFenced.
func (e *FenceError) Is(target error) bool { return target == ErrFenced }

// LostError says why a lease was lost; Lease.Err returns one.
type LostError struct {
	ID     string
	Reason string
}

func (e *LostError) Error() string {
	return fmt.Sprintf("lease on board %s lost: %s", e.ID, e.Reason)
}

// Is reports whether target is ErrLost.
func (e *LostError) Is(target error) bool { return target == ErrLost }
