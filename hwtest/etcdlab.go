package hwtest

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/tinyprof/tinyprof/lab"
	"github.com/tinyprof/tinyprof/lab/etcdstore"
)

// newEtcdLab is NewLab for a lab of many machines (Config.Lab): leases and
// health in etcd, and the boards the lab's exporters publish — or, if
// Config.Inventory names one, that inventory's boards.
func newEtcdLab(cfg Config) (*Lab, error) {
	opts, err := etcdstore.ParseURL(cfg.Lab)
	if err != nil {
		return nil, fmt.Errorf("-hwtest.lab (or %s): %w", EnvLab, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	st, err := etcdstore.New(ctx, opts)
	if err != nil {
		return nil, fmt.Errorf("-hwtest.lab (or %s): %w", EnvLab, err)
	}
	l := &Lab{Config: cfg, closeStore: st.Close}
	var boards []lab.Entry
	if cfg.Inventory != "" {
		if boards, err = buildBoards(cfg); err != nil {
			st.Close()
			return nil, err
		}
	} else {
		l.published = st
		if boards, err = publishedBoards(ctx, st); err != nil {
			st.Close()
			return nil, err
		}
	}
	j, err := openJournal(cfg)
	if err != nil {
		st.Close()
		return nil, err
	}
	l.Lab = &lab.Lab{Boards: boards, Store: st, Connect: labConnect, Journal: j}
	return l, nil
}

// publishedBoards reads the boards the lab's exporters publish. An
// unreadable record is passed over (etcdstore.Store.Boards names it);
// only a store that cannot be read fails.
func publishedBoards(ctx context.Context, st *etcdstore.Store) ([]lab.Entry, error) {
	pubs, err := st.Boards(ctx)
	if err != nil && pubs == nil && !isRecordError(err) {
		return nil, err
	}
	boards := make([]lab.Entry, 0, len(pubs))
	for _, p := range pubs {
		boards = append(boards, p.Entry())
	}
	return boards, nil
}

// isRecordError reports whether err is only about unreadable records.
func isRecordError(err error) bool {
	var j interface{ Unwrap() []error }
	return errors.As(err, &j)
}

// current returns the lab.Lab a lease is served from: l's, or, for a lab
// whose boards its exporters publish, a copy with the boards published
// now, so that a board unplugged since the last lease is not tried (and
// quarantined for not answering) and one plugged in since is.
func (l *Lab) current(ctx context.Context) (*lab.Lab, error) {
	if l.published == nil {
		return l.Lab, nil
	}
	boards, err := publishedBoards(ctx, l.published)
	if err != nil {
		return nil, &lab.LeaseError{Want: "a board of the lab", Err: fmt.Errorf("read the boards the lab's exporters publish (is etcd at -hwtest.lab reachable?): %w", err)}
	}
	view := *l.Lab
	view.Boards = boards
	return &view, nil
}

// Close releases what the Lab holds beyond its leases: the connection to
// the lab's etcd, if it has one.
func (l *Lab) Close() error {
	if l.closeStore == nil {
		return nil
	}
	return l.closeStore()
}

// Close closes the DefaultLab, if one was built: Main calls it after the
// tests, so that a TestMain that checks for leaked goroutines after
// m.Run (goleak) finds none of the lab's; such a TestMain should call it
// too.
func Close() error {
	if defaultLab == nil {
		return nil
	}
	return defaultLab.Close()
}

// labConnect is the ConnectFunc of a lab in etcd: a board an exporter
// published is reached over RFC 2217 in either build — naming the lab
// with -hwtest.lab is the opt-in that the simulated build otherwise asks
// of real boards (-tags=hardware) — and any other entry as the build's
// connect serves it.
func labConnect(ctx context.Context, e lab.Entry, opts lab.ConnectOptions) (*lab.Conn, error) {
	if e.Host != "" && e.Kind() == lab.KindReal {
		return lab.Connect(ctx, e, opts)
	}
	return connect(ctx, e, opts)
}
