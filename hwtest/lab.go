package hwtest

import (
	"context"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/tinyprof/tinyprof/journal"
	"github.com/tinyprof/tinyprof/lab"
	"github.com/tinyprof/tinyprof/lab/etcdstore"
)

// Lab is a lab (package lab: boards, a lease store, a way to connect, the
// health checks and quarantine) together with the Config a test binary was
// given, which pins the device or platform, bounds the wait and decides
// whether infrastructure failures fail. The package-level Lease uses the
// DefaultLab; tests of tinyprof itself build their own. Its fields must not
// change once it is in use; its methods may be called concurrently.
type Lab struct {
	*lab.Lab
	// Config supplies the pinned device and platform, the lease timeout,
	// the log directory and whether infrastructure failures fail.
	Config Config

	// runLogs makes, once, the folder of this run's device logs (see
	// writeLog).
	runLogs    sync.Once
	runLogsDir string
	runLogsErr error

	// waitNotice and waitEvery are when a waiting lease first says what it
	// waits for, and how often again; default 1 s and 10 s (see
	// waitNotices). Tests of this package shorten them.
	waitNotice, waitEvery time.Duration

	// published, if set, is the etcd store whose exporters' boards this
	// Lab leases: read again for every lease, since boards come and go.
	published *etcdstore.Store
	// closeStore, if set, closes the Lab's etcd store.
	closeStore func() error

	// tally, if set, counts this Lab's infrastructure stops and logs
	// instead of the process's tally, so that tests of this package do
	// not show in its summary.
	tally *runTally
}

// counts returns the tally this Lab reports to.
func (l *Lab) counts() *runTally {
	if l.tally != nil {
		return l.tally
	}
	return &tally
}

// NewLab returns the Lab cfg describes for this build: simulated boards
// (see the package documentation) or, with -tags=hardware, the real
// boards of the inventory.
func NewLab(cfg Config) (*Lab, error) {
	if cfg.Lab != "" {
		return newEtcdLab(cfg)
	}
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
	st, err := lab.NewFlockStore(dir)
	if err != nil {
		return nil, err
	}
	j, err := openJournal(cfg)
	if err != nil {
		return nil, err
	}
	return &Lab{Lab: &lab.Lab{Boards: boards, Store: st, Connect: connect, Journal: j}, Config: cfg}, nil
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

// openJournal opens the journal cfg names: cfg.JournalDir, else, in the
// hardware build or when TINYPROF_STATE_DIR is set, lab.DefaultJournalDir.
// The simulated build otherwise keeps none, so that a plain go test writes
// nothing outside its temporary directories.
func openJournal(cfg Config) (*journal.Journal, error) {
	dir := cfg.JournalDir
	if dir == "" && (!Simulated || os.Getenv(lab.EnvStateDir) != "") {
		var err error
		if dir, err = lab.DefaultJournalDir(); err != nil {
			return nil, err
		}
	}
	if dir == "" {
		return nil, nil
	}
	return journal.Open(dir, journal.Options{})
}

// withConfig checks r and adds the configured pins to it. A request, or a
// pin, that names an unknown platform or board is an error matching
// lab.ErrUnknown; a request for another platform or board than the pins
// is ErrNoMatch.
func (l *Lab) withConfig(lb *lab.Lab, r request) (request, error) {
	if err := lb.Validate(r.Request); err != nil {
		return r, fmt.Errorf("lease %s: %w", r.String(), err)
	}
	if p := l.Config.Platform; p != "" {
		if err := lb.Validate(lab.Request{Platform: p}); err != nil {
			return r, fmt.Errorf("-hwtest.platform=%s (or %s): %w", p, EnvPlatform, err)
		}
		if r.Platform != "" && !strings.EqualFold(r.Platform, p) {
			return r, &lab.LeaseError{Want: r.String(), Err: lab.ErrNoMatch,
				Detail: fmt.Sprintf("-hwtest.platform=%s selects another platform", p)}
		}
		r.Platform = p
	}
	if id := l.Config.Device; id != "" {
		if err := lb.Validate(lab.Request{ID: id}); err != nil {
			return r, fmt.Errorf("-hwtest.device=%s (or %s): %w", id, EnvDevice, err)
		}
		if r.ID != "" && r.ID != id {
			return r, &lab.LeaseError{Want: r.String(), Err: lab.ErrNoMatch,
				Detail: fmt.Sprintf("-hwtest.device=%s selects another board", id)}
		}
		r.ID = id
	}
	return r, nil
}

// acquire leases n boards of protocol matching cs and the Config's pins,
// waiting until ctx is done or the Timeout constraint passes. While it
// waits, notice, if not nil, is started with the request and stopped
// before acquire returns.
func (l *Lab) acquire(ctx context.Context, holder string, n int, protocol string, cs []Constraint, notice func(context.Context, lab.Request) (stop func())) ([]*lab.Lease, error) {
	lb, err := l.current(ctx)
	if err != nil {
		return nil, err
	}
	r, err := l.withConfig(lb, newRequest(protocol, cs))
	if err != nil {
		return nil, err
	}
	if r.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, r.timeout)
		defer cancel()
	}
	if notice != nil {
		defer notice(ctx, r.Request)()
	}
	return lb.AcquireN(ctx, holder, n, r.Request)
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
// done; it takes all n or none (see lab.Lab.AcquireN). Only boards of the
// tinyprof protocol are served; see AcquireEEMBC for the others.
func (l *Lab) AcquireN(ctx context.Context, holder string, n int, cs ...Constraint) ([]*Board, error) {
	ls, err := l.acquire(ctx, holder, n, lab.ProtocolTinyprof, cs, nil)
	if err != nil {
		return nil, err
	}
	return boardsOf(ls), nil
}

// boardsOf wraps tinyprof leases as Boards.
func boardsOf(ls []*lab.Lease) []*Board {
	boards := make([]*Board, len(ls))
	for i, le := range ls {
		boards[i] = &Board{Device: le.Conn.Device, Entry: le.Entry, Holder: le.Holder, lease: le}
	}
	return boards
}

// AcquireEEMBC leases one healthy eembc board matching cs for holder,
// waiting until ctx is done, as Acquire does for tinyprof boards: the
// same lease store, health records and quarantine. The caller must
// Release the board.
func (l *Lab) AcquireEEMBC(ctx context.Context, holder string, cs ...Constraint) (*EEMBCBoard, error) {
	ls, err := l.acquire(ctx, holder, 1, lab.ProtocolEEMBC, cs, nil)
	if err != nil {
		return nil, err
	}
	return eembcBoardOf(ls[0]), nil
}

// eembcBoardOf wraps an eembc lease as an EEMBCBoard.
func eembcBoardOf(le *lab.Lease) *EEMBCBoard {
	return &EEMBCBoard{Client: le.Client, Entry: le.Entry, Holder: le.Holder, DUTName: le.DUTName, DUTProfile: le.DUTProfile, lease: le}
}
