package hwtest

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

// ConnectFunc opens a connection to the board e describes, with opts, and
// says Hello. It returns the Device and a function that closes everything
// it opened (for a simulated board, the board too).
type ConnectFunc func(ctx context.Context, e Entry, opts device.Options) (*device.Device, func() error, error)

// Lab is a set of boards, a store for their leases and health, and a way to
// connect to them. The package-level Lease uses a Lab built from the flags
// by NewLab; tests of tinyprof itself build their own. A Lab's fields must
// not change once it is in use; its methods may be called concurrently.
type Lab struct {
	// Boards are the boards that may be leased, in the order they are tried.
	Boards []Entry
	// Store holds leases and health. Required.
	Store Store
	// Connect opens a board. Default: a simulated board in the default
	// build, the serial port (found by USB serial number) with
	// -tags=hardware.
	Connect ConnectFunc
	// ConnectEEMBC opens a board whose protocol is eembc. Default
	// ConnectEEMBC: a simulated DUT (package eembcsim) for a sim entry, the
	// serial port otherwise.
	ConnectEEMBC EEMBCConnectFunc
	// Device configures each connection. OnLog is chained, not replaced.
	// Its Timeout is also the EEMBC clients' default command timeout.
	Device device.Options
	// EEMBC configures the client of each eembc board (see LeaseEEMBC).
	// Default: eembc's defaults, with Device.Timeout, if set, as the
	// command timeout.
	EEMBC eembc.Options
	// Config supplies the pinned device and platform, the lease timeout,
	// the log directory and whether infrastructure failures fail.
	Config Config
	// RecheckAfter is how long a quarantined board stays out before a lease
	// that finds no other board tries it again; passing the check returns
	// it to service. Default 15 minutes.
	RecheckAfter time.Duration
	// CheckTimeout bounds one health check. Default 30s.
	CheckTimeout time.Duration
	// Journal, if set, receives an event for every lease, release, health
	// check and quarantine (package journal).
	Journal *journal.Journal

	// sims maps each open connection made by the default Connect to its
	// simulated board (*device.Device → *sim.Board), so that Board.Meter
	// can wire a simulated meter to it.
	sims sync.Map
}

// NewLab returns the Lab cfg describes for this build: simulated boards
// (see the package documentation) or, with -tags=hardware, the real
// boards of the inventory.
func NewLab(cfg Config) (*Lab, error) {
	boards, err := buildBoards(cfg)
	if err != nil {
		return nil, err
	}
	dir := cfg.LeaseDir
	if dir == "" {
		if dir, err = defaultLeaseDir(); err != nil {
			return nil, err
		}
	}
	st, err := NewFlockStore(dir)
	if err != nil {
		return nil, err
	}
	j, err := openJournal(cfg)
	if err != nil {
		return nil, err
	}
	return &Lab{Boards: boards, Store: st, Config: cfg, Journal: j}, nil
}

var (
	defaultOnce sync.Once
	defaultLab  *Lab
	defaultErr  error
)

// DefaultLab returns the Lab the package-level Lease uses, built once per
// process from the flags (or, without Main, the environment).
func DefaultLab() (*Lab, error) {
	defaultOnce.Do(func() {
		cfg, err := currentConfig()
		if err != nil {
			defaultErr = err
			return
		}
		defaultLab, defaultErr = NewLab(cfg)
	})
	return defaultLab, defaultErr
}

// The conditions a LeaseError reports; match them with errors.Is.
var (
	// ErrNoMatch: no board in the lab satisfies the constraints at all.
	ErrNoMatch = errors.New("no board matches")
	// ErrUnavailable: matching boards exist but none became free in time.
	ErrUnavailable = errors.New("no matching board became free in time")
	// ErrQuarantined: every matching board failed its health check.
	ErrQuarantined = errors.New("every matching board is quarantined")
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
func (l *Lab) candidates(r request) ([]Entry, error) {
	var out []Entry
	var passed []string
	for _, e := range l.Boards {
		ok, why := r.matches(e)
		switch {
		case !ok:
			if r.id == "" || why == "id" {
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

// withConfig adds the configured pins to r.
func (l *Lab) withConfig(r request) (request, error) {
	if p := l.Config.Platform; p != "" {
		if r.platform != "" && !strings.EqualFold(r.platform, p) {
			return r, &LeaseError{Want: r.String(), Err: ErrNoMatch,
				Detail: fmt.Sprintf("-hwtest.platform=%s selects another platform", p)}
		}
		r.platform = p
	}
	if id := l.Config.Device; id != "" {
		if r.id != "" && r.id != id {
			return r, &LeaseError{Want: r.String(), Err: ErrNoMatch,
				Detail: fmt.Sprintf("-hwtest.device=%s selects another board", id)}
		}
		r.id = id
	}
	return r, nil
}

// Acquire leases one board for holder (a test name or a command), waiting
// until ctx is done. The caller must Release the board. Tests use Lease,
// which calls this with the test's deadline.
func (l *Lab) Acquire(ctx context.Context, holder string, cs ...Constraint) (*Board, error) {
	bs, err := l.AcquireN(ctx, holder, 1, cs...)
	if err != nil {
		return nil, err
	}
	return bs[0], nil
}

// AcquireN leases n distinct boards, all matching cs, waiting until ctx is
// done. It takes all n or none: locks are only ever tried, never waited
// on while others are held, so two callers that each want two boards
// cannot deadlock; a caller that gets fewer than n gives them back and
// tries again after a randomised backoff. Only boards of the tinyprof
// protocol are served; see AcquireEEMBC for the others.
func (l *Lab) AcquireN(ctx context.Context, holder string, n int, cs ...Constraint) ([]*Board, error) {
	cs2, err := l.acquire(ctx, holder, n, ProtocolTinyprof, cs)
	if err != nil {
		return nil, err
	}
	boards := make([]*Board, len(cs2))
	for i, c := range cs2 {
		boards[i] = l.newBoard(c)
	}
	return boards, nil
}

// acquire is AcquireN for boards of the given protocol: it returns them
// leased and health-checked.
func (l *Lab) acquire(ctx context.Context, holder string, n int, protocol string, cs []Constraint) ([]*checkedOut, error) {
	r, err := l.withConfig(newRequest(protocol, cs))
	if err != nil {
		return nil, err
	}
	if r.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, r.timeout)
		defer cancel()
	}
	cands, err := l.candidates(r)
	if err != nil {
		return nil, err
	}
	want := r.describe(n)
	if len(cands) < n {
		return nil, &LeaseError{Want: want, Err: ErrNoMatch, Detail: fmt.Sprintf("only %d boards match", len(cands))}
	}
	start := time.Now()
	host, _ := os.Hostname()
	backoff := 10 * time.Millisecond
	for {
		h := Holder{PID: os.Getpid(), Host: host, Test: holder, Since: time.Now()}
		boards, retry, err := l.round(ctx, cands, n, h)
		if err != nil {
			return nil, err
		}
		if boards != nil {
			return boards, nil
		}
		if !retry {
			return nil, l.leaseError(want, ErrQuarantined, cands, time.Since(start))
		}
		t := time.NewTimer(jitter(backoff))
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, l.leaseError(want, ErrUnavailable, cands, time.Since(start))
		case <-t.C:
		}
		backoff = min(backoff*2, 250*time.Millisecond)
	}
}

// jitter spreads d over [d/2, 3d/2) so that waiting processes do not retry
// in step.
func jitter(d time.Duration) time.Duration {
	return d/2 + rand.N(d)
}

// round makes one pass over the candidates. It returns the boards if it
// got n healthy ones; otherwise whether waiting can help (false when every
// candidate is quarantined).
func (l *Lab) round(ctx context.Context, cands []Entry, n int, h Holder) ([]*checkedOut, bool, error) {
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
			if err != nil {
				releaseAll()
				return nil, false, err
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
			if err != nil {
				releaseAll()
				if ctx.Err() != nil {
					return nil, true, nil // the caller reports the timeout
				}
				return nil, false, err
			}
			got = append(got, held{e, rel, li.Health})
		}
	}
	if len(got) < n {
		releaseAll()
		return nil, usable >= n, nil
	}
	var boards []*checkedOut
	healthy := true
	for _, g := range got {
		b, err := l.checkout(ctx, g.e, h, g.release, g.prev)
		if err != nil {
			healthy = false
			continue // checkout released and, unless ctx ended, quarantined it
		}
		boards = append(boards, b)
	}
	if !healthy {
		for _, b := range boards {
			b.release()
		}
		return nil, true, nil // try again: the next round skips the quarantined board
	}
	return boards, false, nil
}

func (l *Lab) recheckAfter() time.Duration {
	if l.RecheckAfter > 0 {
		return l.RecheckAfter
	}
	return 15 * time.Minute
}

func (l *Lab) leaseError(want string, err error, cands []Entry, waited time.Duration) error {
	le := &LeaseError{Want: want, Err: err, Waited: waited}
	for _, e := range cands {
		li, ierr := l.Store.Inspect(context.Background(), e.ID)
		if ierr != nil {
			li = LeaseInfo{ID: e.ID}
		}
		le.Boards = append(le.Boards, li)
	}
	return le
}
