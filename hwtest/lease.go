package hwtest

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tinyprof/tinyprof/lab"
)

// Lease returns an exclusive, healthy, freshly reset board matching cs for
// the rest of the test, from the Lab the flags describe (DefaultLab):
//
//	dev := hwtest.Lease(t, hwtest.Platform("esp32s3"))
//
// It waits, with backoff, for a matching board that no other test — in
// this process or another — holds; the wait ends at the Timeout constraint,
// -hwtest.lease-timeout, or the test's deadline less a margin for cleanup,
// whichever is first. The lease ends in t.Cleanup, also after a panic.
// Only boards whose protocol is tinyprof serve it; MLPerf Tiny boards
// (`protocol: eembc`) are leased with LeaseEEMBC.
//
// The board's id, platform and firmware, whether it is simulated or
// emulated, and the host that leased it are recorded with t.Attr (so they
// reach the JUnit report as properties). If the test fails, every line the
// board printed is attached to its output and written to a file that
// outlives the run: under -hwtest.logdir, in t.ArtifactDir() with
// go test -artifacts, else in this run's folder under lab.DefaultLogDir.
//
// A wait of more than a second says, in the test's log, which boards it
// waits for and who holds them, and says so again every ten seconds.
//
// A lease that names a platform, feature or board that does not exist
// (hwtest.Platform("esp32-s3"), -hwtest.platform=esp32p5) fails the test,
// naming the closest known names: it is a mistake that no wait can mend.
// So does a lab that cannot be set up at all: an inventory that was named
// but cannot be read or is malformed, a hardware build with no inventory,
// an unusable lease directory. When the lab is merely short of boards —
// every matching one busy past the deadline or quarantined, none of the
// platform in this lab — the test is skipped with a reason that begins
// "infrastructure:", naming who holds each candidate, or, with
// -hwtest.fail-infra, fails; Main counts these in a summary line.
func Lease(tb testing.TB, cs ...Constraint) *Board {
	tb.Helper()
	return LeaseN(tb, 1, cs...)[0]
}

// LeaseN is Lease for n distinct boards, all matching cs. It takes all of
// them or none, so tests that each want several boards cannot deadlock.
func LeaseN(tb testing.TB, n int, cs ...Constraint) []*Board {
	tb.Helper()
	return defaultLabFor(tb).LeaseN(tb, n, cs...)
}

// defaultLabFor returns the DefaultLab, or fails tb: a lab that cannot be
// set up — an inventory that was named but cannot be read, a hardware build
// with no inventory at all — is a broken lab setup, and a suite that cannot
// run must not pass by skipping.
func defaultLabFor(tb testing.TB) *Lab {
	tb.Helper()
	l, err := DefaultLab()
	if err != nil {
		tb.Fatalf("hwtest: %v", err)
	}
	return l
}

// Lease is the package-level Lease on l.
func (l *Lab) Lease(tb testing.TB, cs ...Constraint) *Board {
	tb.Helper()
	return l.LeaseN(tb, 1, cs...)[0]
}

// LeaseN is the package-level LeaseN on l.
func (l *Lab) LeaseN(tb testing.TB, n int, cs ...Constraint) []*Board {
	tb.Helper()
	if n < 1 {
		tb.Fatalf("hwtest: LeaseN(%d): need at least one board", n)
		return nil // reached only under a fake TB
	}
	ctx, cancel := l.waitContext(tb, time.Now())
	defer cancel()
	ls, err := l.acquire(ctx, tb.Name(), n, lab.ProtocolTinyprof, cs, l.waitNotices(tb))
	if err != nil {
		l.emulationMissing(tb, cs)
		l.stop(tb, err)
		return nil // stop ended the test; reached only under a fake TB
	}
	boards := boardsOf(ls)
	for i, b := range boards {
		suffix := ""
		if i > 0 {
			suffix = fmt.Sprintf(".%d", i)
		}
		tb.Attr("hwtest.board"+suffix, b.Entry.ID)
		tb.Attr("hwtest.platform"+suffix, b.Entry.Platform)
		simulated, emulated := b.Entry.Kind() == lab.KindSimulated, b.Entry.Kind() == lab.KindEmulated
		if e := b.lease.Conn.Emu; e != nil {
			tb.Attr("hwtest.emulation"+suffix, e.Label())
		}
		if info := b.Info(); info != nil {
			tb.Attr("hwtest.firmware"+suffix, strings.ReplaceAll(info.Firmware, " ", "_"))
			// What the board says of itself, so that a kind of entry added
			// later is labelled by its firmware without a case here.
			simulated = simulated || info.Capabilities.Simulated()
			emulated = emulated || info.Capabilities.Emulated()
		}
		host := b.Holder.Host
		if b.Entry.Host != "" {
			host = b.Entry.Host // the lab host the board hangs off, not this one
		}
		attrKind(tb, suffix, simulated, emulated, host)
		stop := l.watchLost(tb, b)
		tb.Cleanup(func() {
			stop()
			l.finish(tb, b.lease)
		})
	}
	return boards
}

// finish ends lease le and, if the test failed, asks the board for a
// quick answer first (lab.Lease.Recheck), quarantining it if it no longer
// gives one, and attaches its log.
func (l *Lab) finish(tb testing.TB, le *lab.Lease) {
	tb.Helper()
	id := le.Entry.ID
	if tb.Failed() {
		if err := le.Recheck(); err != nil {
			tb.Logf("hwtest: %v", err)
		}
	}
	if err := le.Release(); err != nil {
		tb.Logf("hwtest: releasing %s: %v", id, err)
	}
	if !tb.Failed() {
		return
	}
	lines := le.Log.Lines()
	path, err := l.writeLog(tb, le)
	if err != nil {
		tb.Logf("hwtest: writing the log of %s: %v", id, err)
		path = "(not written)"
	}
	const show = 200
	shown := lines[max(0, len(lines)-show):]
	tb.Logf("hwtest: board %s printed %d lines (all in %s); the last %d:\n%s",
		id, len(lines), path, len(shown), lab.FormatLog(shown))
}

// waitContext bounds the wait for a board: by -hwtest.lease-timeout and by
// the test's deadline less a margin, so that a lease that cannot be served
// fails with a useful message before the test binary's own timeout panics.
func (l *Lab) waitContext(tb testing.TB, now time.Time) (context.Context, context.CancelFunc) {
	var deadline time.Time
	if d, ok := tb.(interface{ Deadline() (time.Time, bool) }); ok {
		if td, ok := d.Deadline(); ok {
			deadline = td.Add(-cleanupMargin(td.Sub(now)))
		}
	}
	if t := l.Config.LeaseTimeout; t > 0 && (deadline.IsZero() || now.Add(t).Before(deadline)) {
		deadline = now.Add(t)
	}
	if deadline.IsZero() {
		return context.WithCancel(tb.Context())
	}
	return context.WithDeadline(tb.Context(), deadline)
}

// cleanupMargin is how much of the time left before a test's deadline a
// lease leaves for the test's cleanup and report: a tenth, between 200 ms
// and 10 s.
func cleanupMargin(left time.Duration) time.Duration {
	return min(max(left/10, 200*time.Millisecond), 10*time.Second)
}

// recheckHint says how to recheck the quarantined boards of le now,
// rather than waiting for a lease to retry one after RecheckAfter.
func (l *Lab) recheckHint(le *lab.LeaseError) string {
	if l.Config.Inventory == "" {
		// The simulated build's catalogue boards are in no inventory
		// that health-check could read.
		return "recheck now: run with -hwtest.leasedir=$(mktemp -d), a fresh store without their quarantine"
	}
	cmd := "tiny-profiler health-check"
	cmd += " --inventory " + l.Config.Inventory
	if l.Config.LeaseDir != "" {
		cmd += " --lease-dir " + l.Config.LeaseDir
	}
	var ids []string
	for _, li := range le.Boards {
		if li.Health.Status == lab.Quarantined {
			ids = append(ids, "--device "+li.ID)
		}
	}
	return "recheck now: `" + strings.Join(append([]string{cmd}, ids...), " ") + "`; a board that passes returns to service"
}

// Infrastructure stops tb because of a failure of the lab rather than of
// the code under test — no board could be leased, a board broke: it skips
// tb with a reason that begins "infrastructure:", or, with
// -hwtest.fail-infra, fails it. CI can then tell a broken board from a
// broken model.
func (l *Lab) Infrastructure(tb testing.TB, err error) {
	tb.Helper()
	msg := "infrastructure: " + err.Error()
	var le *lab.LeaseError
	if errors.As(err, &le) && errors.Is(le.Err, lab.ErrNoMatch) {
		msg += " (check -hwtest.inventory, -hwtest.platform and -hwtest.device)"
	}
	if errors.As(err, &le) && errors.Is(le.Err, lab.ErrQuarantined) {
		msg += " (" + l.recheckHint(le) + ")"
	}
	l.counts().infrastructure(tb.Name(), err, l.Config.FailInfra)
	if l.Config.FailInfra {
		tb.Fatal(msg)
	}
	tb.Skip(msg)
}

// stop ends tb because a lease could not be served: failed when the
// request names a platform, feature or board that does not exist (a
// mistake in the test or its flags, which no wait can mend), else as
// Infrastructure.
func (l *Lab) stop(tb testing.TB, err error) {
	tb.Helper()
	if errors.Is(err, lab.ErrUnknown) {
		tb.Fatalf("hwtest: %v", err)
	}
	l.Infrastructure(tb, err)
}

// attrKind records, with t.Attr, whether the board's figures are simulated
// or emulated and which host served the lease, so that a JUnit report
// tells them apart from measurements on a real board.
func attrKind(tb testing.TB, suffix string, simulated, emulated bool, host string) {
	tb.Attr("hwtest.simulated"+suffix, strconv.FormatBool(simulated))
	tb.Attr("hwtest.emulated"+suffix, strconv.FormatBool(emulated))
	if host != "" {
		tb.Attr("hwtest.host"+suffix, host)
	}
}

// Infrastructure is Lab.Infrastructure on the DefaultLab.
func Infrastructure(tb testing.TB, err error) {
	tb.Helper()
	l, lerr := DefaultLab()
	if lerr != nil {
		l = &Lab{}
	}
	l.Infrastructure(tb, err)
}

// watchLost gives b its Context and, for a store whose leases can be lost
// (a lab in etcd), closes b's connection the moment its lease is lost —
// the board may already be someone else's — which ends every request in
// flight and cancels b.Context(). It returns what the test's cleanup
// calls: it stops watching and, if the lease was lost, fails the test
// with an error that begins "infrastructure:", since its results cannot
// be trusted, and counts it in Main's summary.
func (l *Lab) watchLost(tb testing.TB, b *Board) (stop func()) {
	tb.Helper()
	ctx, cancel := context.WithCancel(tb.Context())
	b.ctx = ctx
	lost := b.lease.Lost()
	if lost == nil {
		return cancel
	}
	done, watched := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(watched)
		select {
		case <-lost:
			cancel()
			b.lease.Conn.Close()
		case <-done:
		}
	}()
	return func() {
		tb.Helper()
		close(done)
		<-watched
		cancel()
		if err := b.lease.Err(); err != nil {
			l.counts().infrastructure(tb.Name(), err, true)
			tb.Errorf("infrastructure: %v: the test was stopped, and its results are not to be trusted", err)
		}
	}
}
