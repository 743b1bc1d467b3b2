package lab

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/tinyprof/tinyprof/device"
	"github.com/tinyprof/tinyprof/device/eembc"
	"github.com/tinyprof/tinyprof/journal"
)

// Lab is a set of boards, a store for their leases and health, and a way to
// connect to them: what hands out exclusive, health-checked boards
// (Acquire) and checks a whole inventory (HealthCheck). Package hwtest
// builds one from its flags for tests; the CLI builds one from an
// inventory file. A Lab's fields must not change once it is in use; its
// methods may be called concurrently.
type Lab struct {
	// Boards are the boards that may be leased, in the order they are tried.
	Boards []Entry
	// Store holds leases and health. Required.
	Store Store
	// Connect opens a tinyprof board. Default Connect, which serves every
	// kind of entry.
	Connect ConnectFunc
	// ConnectEEMBC opens a board whose protocol is eembc. Default
	// ConnectEEMBC: a simulated DUT (package eembcsim) for a sim entry, the
	// serial port otherwise.
	ConnectEEMBC EEMBCConnectFunc
	// Device configures each connection. OnLog is chained, not replaced.
	// Its Timeout is also the EEMBC clients' default command timeout.
	Device device.Options
	// EEMBC configures the client of each eembc board. Default: eembc's
	// defaults, with Device.Timeout, if set, as the command timeout.
	EEMBC eembc.Options
	// RecheckAfter is how long a quarantined board stays out before a lease
	// that finds no other board tries it again; passing the check returns
	// it to service. Default 15 minutes.
	RecheckAfter time.Duration
	// CheckTimeout bounds one health check. Default 30s.
	CheckTimeout time.Duration
	// Journal, if set, receives an event for every lease, release, health
	// check and quarantine (package journal).
	Journal *journal.Journal
}

// Lease is one board a Lab leased for a holder: connected, and past its
// protocol's health check. Release ends it; do not use the connection
// after that.
type Lease struct {
	// Entry is the board's inventory entry.
	Entry Entry
	// Holder is the lease record written for this lease.
	Holder Holder
	// Conn is the connection to a tinyprof board; nil for an eembc one.
	Conn *Conn
	// Client is the client of an eembc board; nil for a tinyprof one.
	Client *eembc.Client
	// DUTName and DUTProfile are what an eembc board answered name% and
	// profile% with during its health check.
	DUTName    string
	DUTProfile eembc.Profile
	// Log is every line the board printed since the lease began, and the
	// lab's notes.
	Log *Log

	release func() error
	recheck func() error
	lost    Held // set when the store can tell that a lease was lost
	once    sync.Once
	relErr  error
}

// Release closes the connection and ends the lease. It is safe to call
// more than once.
func (l *Lease) Release() error {
	l.once.Do(func() { l.relErr = l.release() })
	return l.relErr
}

// Recheck is for the end of a failed test, before Release: if the lease
// is still held it asks the board for a quick answer (a PING, or name%
// for an eembc board); if none comes, it health-checks the board on a
// fresh connection and quarantines it if that fails too, so that the next
// holder does not inherit a broken board. The error says what it found;
// nil means the board is fine.
func (l *Lease) Recheck() error { return l.recheck() }

// The conditions a LeaseError reports; match them with errors.Is.
var (
	// ErrNoMatch: no board in the lab satisfies the constraints at all.
	ErrNoMatch = errors.New("no board matches")
	// ErrUnavailable: matching boards exist but none became free in time.
	ErrUnavailable = errors.New("no matching board became free in time")
	// ErrQuarantined: every matching board failed its health check.
	ErrQuarantined = errors.New("every matching board is quarantined")
	// A store failure matches ErrStore, and ErrBadEntry reports that
	// every usable-looking board's entry in the store is broken.
)

// LeaseError says why a lease could not be served and what the candidate
// boards were doing. Every LeaseError is an infrastructure failure.
type LeaseError struct {
	Want   string        // the constraints, e.g. "platform=esp32s3"
	Err    error         // ErrNoMatch, ErrUnavailable, ErrQuarantined, or a store failure
	Waited time.Duration // how long Acquire waited
	Boards []LeaseInfo   // the candidates, as last seen
	Detail string        // for ErrNoMatch: why each board was passed over
}

func (e *LeaseError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "lease %s: %v", e.Want, e.Err)
	if e.Waited > 0 {
		fmt.Fprintf(&b, " (waited %v)", e.Waited.Round(time.Millisecond))
	}
	if e.Detail != "" {
		b.WriteString(": " + e.Detail)
	}
	for i, li := range e.Boards {
		if i == 0 {
			b.WriteString(": ")
		} else {
			b.WriteString("; ")
		}
		b.WriteString(li.String())
	}
	return b.String()
}

func (e *LeaseError) Unwrap() error { return e.Err }

// candidates returns the boards r may be served by.
func (l *Lab) candidates(r Request) ([]Entry, error) {
	var out []Entry
	var passed []string
	for _, e := range l.Boards {
		ok, why := r.Matches(e)
		switch {
		case !ok:
			if r.ID == "" || why == "id" {
				continue // not worth listing every board of another platform
			}
			passed = append(passed, fmt.Sprintf("%s has another %s", e.ID, why))
		case e.State != Good && e.State != "":
			passed = append(passed, fmt.Sprintf("%s is %s in the inventory", e.ID, e.State))
		default:
			out = append(out, e)
		}
	}
	if len(out) == 0 {
		detail := fmt.Sprintf("the lab has %d boards", len(l.Boards))
		if len(passed) > 0 {
			detail += "; " + strings.Join(passed, "; ")
		}
		return nil, &LeaseError{Want: r.String(), Err: ErrNoMatch, Detail: detail}
	}
	return out, nil
}

// Acquire leases one board matching r for holder (a test name or a
// command), waiting until ctx is done. The caller must Release it.
func (l *Lab) Acquire(ctx context.Context, holder string, r Request) (*Lease, error) {
	ls, err := l.AcquireN(ctx, holder, 1, r)
	if err != nil {
		return nil, err
	}
	return ls[0], nil
}

// AcquireN leases n distinct boards, all matching r, waiting until ctx is
// done, and returns them connected and health-checked. It takes all n or
// none: locks are only ever tried, never waited on while others are held,
// so two callers that each want two boards cannot deadlock; a caller that
// gets fewer than n gives them back and tries again after a randomised
// backoff. When the Store is an Acquirer (the etcd store), the store
// itself queues the waiter and wakes it when its turn comes, in order of
// arrival, and nothing polls. When the Store is a Queue, waiters take their turns in
// arrival order: only the earliest live waiter for overlapping boards
// tries them, so a process that releases a board and asks again goes to
// the back of the line. A board that fails its health check twice is quarantined and
// the next candidate tried. The caller must Release every lease.
//
// A request that names an unknown platform, feature or board fails at
// once with a *RequestError (see Validate). Other failures are *LeaseError
// values: ErrNoMatch at once when no board could ever serve r,
// ErrQuarantined at once when every candidate is quarantined,
// ErrUnavailable when ctx ends first, a store failure (ErrStore) at once,
// and ErrBadEntry at once when every candidate's entry in the store is
// unusable; a candidate with an unusable entry is passed over.
func (l *Lab) AcquireN(ctx context.Context, holder string, n int, r Request) ([]*Lease, error) {
	if n < 1 {
		return nil, fmt.Errorf("lab: acquire %d boards: need at least one", n)
	}
	if err := l.Validate(r); err != nil {
		return nil, fmt.Errorf("lease %s: %w", r.describe(n), err)
	}
	cands, err := l.candidates(r)
	if err != nil {
		return nil, err
	}
	want := r.describe(n)
	if len(cands) < n {
		return nil, &LeaseError{Want: want, Err: ErrNoMatch, Detail: fmt.Sprintf("only %d boards match", len(cands))}
	}
	if acq, ok := l.Store.(Acquirer); ok {
		return l.acquireWaiting(ctx, acq, holder, n, want, cands)
	}
	start := time.Now()
	host, _ := os.Hostname()
	q := l.queue(cands)
	defer q.leave()
	backoff := 5 * time.Millisecond
	for {
		h := Holder{PID: os.Getpid(), Host: host, Test: holder, Since: time.Now()}
		wait, err := q.turn(ctx, h)
		if err == nil && wait == 0 {
			var leases []*Lease
			var retry bool
			var bad int
			leases, retry, bad, err = l.round(ctx, cands, n, h, q.leave)
			if err == nil && leases != nil {
				return leases, nil
			}
			if err == nil && !retry {
				why := ErrQuarantined
				if bad > 0 {
					why = ErrBadEntry
				}
				return nil, l.leaseError(want, why, cands, time.Since(start))
			}
			wait = jitter(backoff)
			// Only the head of the line polls the boards, so it may
			// poll often.
			backoff = min(backoff*2, 25*time.Millisecond)
		}
		if err != nil {
			if ctx.Err() != nil {
				return nil, q.unavailable(l.leaseError(want, ErrUnavailable, cands, time.Since(start)))
			}
			// A store that cannot be written will not mend while we
			// wait: say so now rather than at the deadline.
			return nil, &LeaseError{Want: want, Err: err, Waited: time.Since(start)}
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, q.unavailable(l.leaseError(want, ErrUnavailable, cands, time.Since(start)))
		case <-t.C:
		}
	}
}

// waitLine is a lease's place in the store's Queue, if the store has
// one; without one every waiter's turn is always now.
type waitLine struct {
	q      Queue
	ids    []string
	ticket Ticket
}

func (l *Lab) queue(cands []Entry) *waitLine {
	w := &waitLine{}
	w.q, _ = l.Store.(Queue)
	for _, e := range cands {
		w.ids = append(w.ids, e.ID)
	}
	return w
}

// turn takes a ticket if the waiter has none, and says how long to wait
// before asking again: 0 when it is the waiter's turn to try the boards.
// A waiter further back asks less often, so that a long line costs the
// directory little.
func (w *waitLine) turn(ctx context.Context, h Holder) (time.Duration, error) {
	if w.q == nil {
		return 0, nil
	}
	if w.ticket == nil {
		t, err := w.q.Enqueue(ctx, w.ids, h)
		if err != nil {
			return 0, err
		}
		w.ticket = t
	}
	ahead, err := w.ticket.Ahead(ctx)
	if err != nil || ahead == 0 {
		return 0, err
	}
	return jitter(min(time.Duration(ahead)*2*time.Millisecond, 250*time.Millisecond)), nil
}

// unavailable adds to le, a lease that ran out of time, how many earlier
// waiters were still ahead in line: the boards may look free because
// those waiters were being served.
func (w *waitLine) unavailable(le *LeaseError) *LeaseError {
	if w.ticket == nil {
		return le
	}
	ahead, err := w.ticket.Ahead(context.Background())
	if err == nil && ahead > 0 {
		le.Detail = fmt.Sprintf("%d earlier waiters for these boards were still ahead in line", ahead)
	}
	return le
}

// leave gives up the waiter's place: once its boards are locked, or when
// it stops waiting. A waiter whose board then fails its health check
// takes a new ticket, at the back.
func (w *waitLine) leave() {
	if w.ticket != nil {
		w.ticket.Leave()
		w.ticket = nil
	}
}

// jitter spreads d over [d/2, 3d/2) so that waiting processes do not retry
// in step.
func jitter(d time.Duration) time.Duration {
	return d/2 + rand.N(d)
}

// round makes one pass over the candidates. It returns the boards if it
// got n healthy ones; otherwise whether waiting can help (false when every
// candidate is quarantined or unusable) and how many candidates it passed
// over because their entry in the store is unusable (*EntryError): those
// are skipped, the rest of the lab served. A failure of the store itself
// (*StoreError) is returned at once.
// locked is called once all n boards are locked, before their health
// checks.
func (l *Lab) round(ctx context.Context, cands []Entry, n int, h Holder, locked func()) (_ []*Lease, retry bool, bad int, _ error) {
	type held struct {
		e       Entry
		release func() error
		prev    Health
	}
	var got []held
	releaseAll := func() {
		for _, g := range got {
			g.release()
		}
	}
	usable := 0
	// Healthy boards first; quarantined ones due a recheck last.
	for _, pass := range []bool{false, true} {
		for _, e := range cands {
			if len(got) == n {
				break
			}
			li, err := l.Store.Inspect(ctx, e.ID)
			if errors.Is(err, ErrBadEntry) {
				if !pass {
					bad++
				}
				continue
			}
			if err != nil {
				releaseAll()
				return nil, false, bad, err
			}
			quarantined := li.Health.Status == Quarantined
			if quarantined != pass {
				continue
			}
			if quarantined && time.Since(li.Health.Checked) < l.recheckAfter() {
				continue
			}
			usable++
			rel, err := l.Store.TryAcquire(ctx, e.ID, h)
			if errors.Is(err, ErrHeld) {
				continue
			}
			if errors.Is(err, ErrBadEntry) {
				usable--
				bad++
				continue
			}
			if err != nil {
				releaseAll()
				if ctx.Err() != nil {
					return nil, true, bad, nil // the caller reports the timeout
				}
				return nil, false, bad, err
			}
			got = append(got, held{e, rel, li.Health})
		}
	}
	if len(got) < n {
		releaseAll()
		return nil, usable >= n, bad, nil
	}
	locked()
	var boards []*Lease
	healthy := true
	for i, g := range got {
		b, err := l.checkout(ctx, g.e, h, g.release, g.prev)
		if errors.Is(err, ErrStore) {
			for _, b := range boards {
				b.Release()
			}
			for _, rest := range got[i+1:] {
				rest.release()
			}
			return nil, false, bad, err
		}
		if err != nil {
			healthy = false
			continue // checkout released and, unless ctx ended, quarantined it
		}
		boards = append(boards, b)
	}
	if !healthy {
		for _, b := range boards {
			b.Release()
		}
		return nil, true, bad, nil // try again: the next round skips the quarantined board
	}
	return boards, false, bad, nil
}

func (l *Lab) recheckAfter() time.Duration {
	if l.RecheckAfter > 0 {
		return l.RecheckAfter
	}
	return 15 * time.Minute
}

func (l *Lab) leaseError(want string, err error, cands []Entry, waited time.Duration) *LeaseError {
	le := &LeaseError{Want: want, Err: err, Waited: waited}
	for _, e := range cands {
		li, ierr := l.Store.Inspect(context.Background(), e.ID)
		if ierr != nil {
			li = LeaseInfo{ID: e.ID, Problem: ierr.Error()}
		}
		le.Boards = append(le.Boards, li)
	}
	return le
}
