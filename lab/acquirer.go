package lab

import (
	"context"
	"errors"
	"os"
	"time"
)

// acquireWaiting is AcquireN on a store that is an Acquirer: the store
// queues the waiter and wakes it, so no round polls the boards. Each
// attempt reads the lab's health once (List), leaves out quarantined
// boards and unusable entries, waits for n of the rest and health-checks
// them; a board that fails is quarantined, and the waiter asks again — at
// the back of the line, as a Queue's waiter does.
func (l *Lab) acquireWaiting(ctx context.Context, acq Acquirer, holder string, n int, want string, cands []Entry) ([]*Lease, error) {
	start := time.Now()
	host, _ := os.Hostname()
	for {
		h := Holder{PID: os.Getpid(), Host: host, Test: holder, Since: time.Now()}
		ids, prev, bad, err := l.usable(ctx, cands, n)
		if err != nil {
			return nil, &LeaseError{Want: want, Err: err, Waited: time.Since(start)}
		}
		if len(ids) < n {
			why := ErrQuarantined
			if bad > 0 && len(ids) == 0 {
				why = ErrBadEntry
			}
			return nil, l.leaseError(want, why, cands, time.Since(start))
		}
		held, err := acq.Acquire(ctx, ids, n, h)
		if err != nil {
			if ctx.Err() != nil {
				return nil, l.leaseError(want, ErrUnavailable, cands, time.Since(start))
			}
			return nil, &LeaseError{Want: want, Err: storeError(err), Waited: time.Since(start)}
		}
		leases, retry, err := l.checkoutHeld(ctx, want, held, cands, prev, h)
		if err != nil || !retry {
			return leases, err
		}
	}
}

// storeError makes a failure of the store that is not already typed a
// *StoreError, which the lab reports at once.
func storeError(err error) error {
	if errors.Is(err, ErrStore) {
		return err
	}
	return &StoreError{Op: "acquire", Err: err}
}

// usable returns the ids of the candidates that may be leased now, with
// their health records: healthy ones, and, when fewer than n are, the
// quarantined ones due a recheck. bad counts candidates whose entry in the
// store is unusable.
func (l *Lab) usable(ctx context.Context, cands []Entry, n int) (ids []string, prev map[string]Health, bad int, _ error) {
	infos, err := l.Store.List(ctx)
	if err != nil {
		return nil, nil, 0, storeError(err)
	}
	byID := make(map[string]LeaseInfo, len(infos))
	for _, li := range infos {
		byID[li.ID] = li
	}
	prev = map[string]Health{}
	var due []string
	for _, e := range cands {
		li := byID[e.ID]
		switch {
		case li.Problem != "":
			bad++
		case li.Health.Status != Quarantined:
			ids = append(ids, e.ID)
		case time.Since(li.Health.Checked) >= l.recheckAfter():
			due = append(due, e.ID)
		default:
			continue
		}
		prev[e.ID] = li.Health
	}
	if len(ids) < n {
		ids = append(ids, due...)
	}
	return ids, prev, bad, nil
}

// checkoutHeld health-checks the boards an Acquirer leased. If one fails
// (and is quarantined) the others are released and retry is true.
func (l *Lab) checkoutHeld(ctx context.Context, want string, held []Held, cands []Entry, prev map[string]Health, h Holder) (_ []*Lease, retry bool, _ error) {
	byID := map[string]Entry{}
	for _, e := range cands {
		byID[e.ID] = e
	}
	var boards []*Lease
	healthy := true
	for i, hd := range held {
		b, err := l.checkout(ctx, byID[hd.Board()], h, hd.Release, prev[hd.Board()])
		if err != nil && (errors.Is(err, ErrStore) || ctx.Err() != nil) {
			for _, b := range boards {
				b.Release()
			}
			for _, rest := range held[i+1:] {
				rest.Release()
			}
			if ctx.Err() != nil {
				return nil, false, l.leaseError(want, ErrUnavailable, cands, 0)
			}
			return nil, false, err
		}
		if err != nil {
			healthy = false
			continue // checkout released and quarantined it
		}
		b.lost = hd
		boards = append(boards, b)
	}
	if !healthy {
		for _, b := range boards {
			b.Release()
		}
		return nil, true, nil
	}
	return boards, false, nil
}

// Lost returns a channel that is closed if the lease ends while it is
// held (see Held.Lost), or nil — which never closes — when the store's
// leases cannot be lost that way (a FlockStore's lock lasts as long as
// its holder). Err says why.
func (l *Lease) Lost() <-chan struct{} {
	if l.lost == nil {
		return nil
	}
	return l.lost.Lost()
}

// Err returns nil while the lease is held, and why it was lost once Lost
// is closed.
func (l *Lease) Err() error {
	if l.lost == nil {
		return nil
	}
	return l.lost.Err()
}
