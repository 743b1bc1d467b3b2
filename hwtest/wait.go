package hwtest

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tinyprof/tinyprof/lab"
)

// waitNotices returns what acquire starts while a lease for tb waits:
// after about a second, and every ten seconds after that, it logs which
// boards the lease is waiting for and who holds them —
//
//	hwtest: waiting for sim-esp32s3-1, held by pid 4242 on ci-3 (TestGenerate) since 20:51:07
//
// so that a test that seems to hang says why. The returned stop ends the
// notices and waits for them, so that none is logged after the lease
// returns.
func (l *Lab) waitNotices(tb testing.TB) func(context.Context, lab.Request) func() {
	first, every := l.waitNotice, l.waitEvery
	if first <= 0 {
		first = time.Second
	}
	if every <= 0 {
		every = 10 * time.Second
	}
	return func(ctx context.Context, r lab.Request) func() {
		ctx, cancel := context.WithCancel(ctx)
		var wg sync.WaitGroup
		wg.Go(func() {
			start := time.Now()
			t := time.NewTimer(first)
			defer t.Stop()
			for {
				select {
				case <-ctx.Done():
					return
				case <-t.C:
				}
				if msg := l.waiting(ctx, r); msg != "" && ctx.Err() == nil {
					tb.Logf("hwtest: waiting for %s (%v so far, for %s)", msg, time.Since(start).Round(100*time.Millisecond), r)
				}
				t.Reset(every)
			}
		})
		return func() { cancel(); wg.Wait() }
	}
}

// waiting describes the boards that could serve r and why each is not
// free: "sim-a, held by pid 1 on h (TestX) since 15:04:05; sim-b,
// quarantined: …", and how many waiters are in line for them. It is "" if
// it cannot tell.
func (l *Lab) waiting(ctx context.Context, r lab.Request) string {
	var parts, ids []string
	for _, e := range l.Boards {
		if ok, _ := r.Matches(e); !ok || (e.State != lab.Good && e.State != "") {
			continue
		}
		ids = append(ids, e.ID)
		li, err := l.Store.Inspect(ctx, e.ID)
		if err != nil {
			continue
		}
		switch {
		case li.Held && li.Holder != nil:
			h := li.Holder
			s := fmt.Sprintf("%s, held by pid %d on %s", e.ID, h.PID, h.Host)
			if h.Test != "" {
				s += " (" + h.Test + ")"
			}
			parts = append(parts, s+" since "+h.Since.Format("15:04:05"))
		case li.Held:
			parts = append(parts, e.ID+", held (holder not yet recorded)")
		case li.Health.Status == lab.Quarantined:
			parts = append(parts, e.ID+", quarantined: "+li.Health.Reason)
		default:
			parts = append(parts, e.ID+", free now")
		}
	}
	// Boards can look free while a lease waits its turn behind earlier
	// waiters: say how long the line is.
	if q, ok := l.Store.(interface {
		Waiters(context.Context, []string) (int, error)
	}); ok && len(parts) > 0 {
		if n, err := q.Waiters(ctx, ids); err == nil && n > 1 {
			parts = append(parts, fmt.Sprintf("%d waiters in line for these boards, this one included", n))
		}
	}
	return strings.Join(parts, "; ")
}
