package lab

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tinyprof/tinyprof/device"
	"github.com/tinyprof/tinyprof/firmware"
	"github.com/tinyprof/tinyprof/journal"
	"github.com/tinyprof/tinyprof/runbook"
)

// session is a connection a health check opened to one board: a tinyprof
// device or an EEMBC client.
type session interface {
	// firmware is the firmware the board reported.
	firmware() string
	// simulated reports whether the board's figures are modelled.
	simulated() bool
	// probe asks the board for a quick answer (a PING, a name%).
	probe(ctx context.Context) error
	close() error
}

// checkFunc runs one health check of e, adding notes and the board's
// output to log. With failed == nil it connects; otherwise failed is the
// session of a check that failed, which it resets or replaces. A session
// that connected but failed the check is returned open, with the error.
type checkFunc func(ctx context.Context, e Entry, log *Log, failed session) (session, error)

// checker returns the health check for e's protocol.
func (l *Lab) checker(e Entry) checkFunc {
	if protocolOf(e) == ProtocolEEMBC {
		return l.eembcCheck()
	}
	return l.tinyprofCheck()
}

// checkout health-checks the board e, whose lease the caller holds, and
// returns it ready for a test: connected, and passing its protocol's
// check (for a tinyprof board: reset, Hello'd, pinged, and reporting the
// platform and firmware the inventory expects). A board that fails is
// reset once and checked again; if it fails again it is quarantined, its
// lease released, and the error returned. prev is its health record
// before this check.
func (l *Lab) checkout(ctx context.Context, e Entry, h Holder, release func() error, prev Health) (*Lease, error) {
	cctx, cancel := context.WithTimeout(ctx, l.checkTimeout())
	defer cancel()
	log := &Log{}
	check := l.checker(e)
	s, err := check(cctx, e, log, nil)
	if err != nil {
		log.Note("health check failed: %v; resetting the board and checking again", err)
		first := err
		s, err = check(cctx, e, log, s)
		if err != nil {
			if s != nil {
				s.close()
			}
			if ctx.Err() != nil { // out of time: that says nothing about the board
				release()
				return nil, ctx.Err()
			}
			reason := first.Error()
			if err.Error() != reason {
				reason += "; after a reset: " + err.Error()
			}
			serr := l.quarantine(e, h, prev, reason, "health check failed: "+reason)
			release()
			if serr != nil {
				return nil, fmt.Errorf("board %s failed its health check (%s) and could not be quarantined: %w", e.ID, reason, serr)
			}
			return nil, fmt.Errorf("board %s quarantined: %s (`tiny-profiler health-check --device %s` rechecks it now)", e.ID, reason, e.ID)
		}
	}
	if prev.Status != Healthy {
		now := time.Now()
		if err := l.Store.SetHealth(ctx, e.ID, Health{Status: Healthy, Since: now, Checked: now, By: h}); err != nil {
			s.close()
			release()
			return nil, err
		}
	}
	l.record(journal.Event{Board: e.ID, Kind: journal.KindHealth, Message: "health check passed",
		Details: map[string]any{"status": "good", "firmware": s.firmware(), "by": h.String()}})
	l.record(journal.Event{Board: e.ID, Kind: journal.KindLease, Message: "leased by " + h.String(), Details: holderDetails(h)})
	log.Note("leased %s (%s, %s) for %s", e.ID, e.Platform, s.firmware(), h.Test)
	c := &Lease{Entry: e, Holder: h, Log: log}
	switch s := s.(type) {
	case *tinyprofSession:
		c.Conn = s.conn
	case *eembcSession:
		c.Client, c.DUTName, c.DUTProfile = s.client, s.name, s.profile
	}
	var released atomic.Bool
	closeSess := sync.OnceValue(s.close)
	c.recheck = func() error {
		if released.Load() {
			return nil // the test let it go: nothing to ask
		}
		pctx, cancel := context.WithTimeout(context.Background(), min(l.checkTimeout(), 10*time.Second))
		perr := s.probe(pctx)
		cancel()
		if perr == nil {
			return nil
		}
		// The test's own connection may be what broke (closed, aborted
		// by a cancelled context) or the board may have rebooted: judge
		// the board by its health check on a fresh connection, with a
		// check's own time.
		closeSess()
		cctx, cancel := context.WithTimeout(context.Background(), l.checkTimeout())
		defer cancel()
		fresh, cerr := l.checker(e)(cctx, e, log, nil)
		if fresh != nil {
			fresh.close()
		}
		if cerr == nil {
			log.Note("after the failed test: %v; on a fresh connection the board passes its health check", perr)
			return nil
		}
		if cctx.Err() != nil {
			// Out of time: that says nothing about the board.
			log.Note("after the failed test: %v; the check on a fresh connection ran out of time (%v): not judged", perr, cerr)
			return fmt.Errorf("board %s did not answer after the test (%v) and could not be checked in %v: left in service", e.ID, perr, l.checkTimeout())
		}
		reason := fmt.Sprintf("stopped answering during %s: %v; on a fresh connection: %v", h.Test, perr, cerr)
		log.Note("after the failed test: %s; quarantining the board", reason)
		if err := l.quarantine(e, h, Health{Status: Healthy}, reason, reason); err != nil {
			return fmt.Errorf("board %s %s, and could not be quarantined: %w", e.ID, reason, err)
		}
		return fmt.Errorf("board %s %s: quarantined until a health check passes it (`tiny-profiler health-check --device %s` rechecks it now); an infrastructure failure as much as a test failure", e.ID, reason, e.ID)
	}
	c.release = func() error {
		released.Store(true)
		l.record(journal.Event{Board: e.ID, Kind: journal.KindLease, Message: "released by " + h.String(), Details: map[string]any{"released": true, "holder": h.String()}})
		cerr := closeSess()
		if rerr := release(); rerr != nil {
			return rerr
		}
		return cerr
	}
	return c, nil
}

// quarantine records board e, whose lease h holds, as quarantined for
// reason and journals it, the health event with message. prev is its
// health record before.
func (l *Lab) quarantine(e Entry, h Holder, prev Health, reason, message string) error {
	now := time.Now()
	hl := Health{Status: Quarantined, Reason: reason, Since: prev.Since, Checked: now, Failures: prev.Failures + 1, By: h}
	if prev.Status != Quarantined {
		hl.Since = now
	}
	serr := l.Store.SetHealth(context.Background(), e.ID, hl)
	l.record(journal.Event{Board: e.ID, Kind: journal.KindHealth, Severity: runbook.Error,
		Message: message, Details: map[string]any{"status": "bad", "reason": reason, "by": h.String()}})
	l.record(journal.Event{Board: e.ID, Kind: journal.KindFault, Severity: runbook.Error,
		Message: "quarantined: " + reason, Details: map[string]any{"failures": hl.Failures}})
	return serr
}

// tinyprofSession is a session with a board running the tinyprof agent.
type tinyprofSession struct {
	conn *Conn
	info *firmware.Info
}

func (s *tinyprofSession) firmware() string { return s.info.Firmware }
func (s *tinyprofSession) simulated() bool  { return s.info.Capabilities.Simulated() }
func (s *tinyprofSession) close() error     { return s.conn.Close() }
func (s *tinyprofSession) probe(ctx context.Context) error {
	_, err := s.conn.Device.Ping(ctx, []byte("hwtest"))
	return err
}

// tinyprofCheck is the health check of a tinyprof board: connect (or
// reset), Hello, ping, and compare what it reports with its entry.
func (l *Lab) tinyprofCheck() checkFunc {
	connect := l.Connect
	if connect == nil {
		connect = Connect
	}
	connect = l.journalled(connect)
	return func(ctx context.Context, e Entry, log *Log, failed session) (session, error) {
		opts := ConnectOptions{Device: l.Device}
		if user := opts.Device.OnLog; user != nil {
			opts.Device.OnLog = func(ll device.LogLine) { log.Add(ll); user(ll) }
		} else {
			opts.Device.OnLog = log.Add
		}
		var conn *Conn
		if f, ok := failed.(*tinyprofSession); ok {
			conn = f.conn
		} else if failed != nil {
			failed.close()
		}
		conn, info, err := checkOnce(ctx, connect, e, opts, conn)
		if conn == nil {
			return nil, err
		}
		return &tinyprofSession{conn: conn, info: info}, err
	}
}

// journalled wraps connect so that every attempt is journalled as a
// connect event, which incident reports measure failure rates from.
func (l *Lab) journalled(connect ConnectFunc) ConnectFunc {
	if l.Journal == nil {
		return connect
	}
	return func(ctx context.Context, e Entry, opts ConnectOptions) (*Conn, error) {
		conn, err := connect(ctx, e, opts)
		name := ""
		if err == nil {
			name = conn.Device.Name()
		}
		l.recordConnect(ctx, e, name, err)
		return conn, err
	}
}

// recordConnect journals one attempt to connect to e (name is the port it
// opened), unless the attempt ran out of time, which says nothing about
// the board.
func (l *Lab) recordConnect(ctx context.Context, e Entry, name string, err error) {
	if l.Journal == nil || (err != nil && ctx.Err() != nil) {
		return
	}
	ev := journal.Event{Board: e.ID, Kind: journal.KindConnect, Details: map[string]any{"ok": err == nil}}
	if err != nil {
		ev.Severity, ev.Message = runbook.Error, "connect failed: "+err.Error()
		ev.Details["error"] = err.Error()
	} else {
		ev.Message = "connected to " + name
	}
	l.record(ev)
}

func (l *Lab) checkTimeout() time.Duration {
	if l.CheckTimeout > 0 {
		return l.CheckTimeout
	}
	return 30 * time.Second
}

// checkOnce runs one health check. With conn == nil it connects first;
// otherwise it resets the board (electrically if the transport can) before
// checking, and on a failure to reset reconnects. A board that connects but
// fails the check is returned open, for the caller to reset or close.
func checkOnce(ctx context.Context, connect ConnectFunc, e Entry, opts ConnectOptions, conn *Conn) (*Conn, *firmware.Info, error) {
	if conn != nil {
		_, err := conn.Device.HardReset(ctx)
		if errors.Is(err, device.ErrNoResetLines) {
			_, err = conn.Device.Reset(ctx)
		}
		if err != nil {
			conn.Close()
			conn = nil
		}
	}
	if conn == nil {
		var err error
		if conn, err = connect(ctx, e, opts); err != nil {
			return nil, nil, fmt.Errorf("connect: %w", err)
		}
	}
	info, err := check(ctx, conn.Device, e)
	return conn, info, err
}

// check resets dev, says Hello, pings, and compares what the board
// reports with its inventory entry. dev must have said Hello already.
func check(ctx context.Context, dev *device.Device, e Entry) (*firmware.Info, error) {
	if _, err := dev.Reset(ctx); err != nil {
		return nil, fmt.Errorf("reset: %w", err)
	}
	info, err := dev.Hello(ctx)
	if err != nil {
		return nil, fmt.Errorf("hello after reset: %w", err)
	}
	if _, err := dev.Ping(ctx, []byte("hwtest")); err != nil {
		return nil, fmt.Errorf("ping: %w", err)
	}
	if info.Platform != e.Platform {
		return nil, fmt.Errorf("board reports platform %q, the inventory says %q: wrong board on this port, or the inventory is wrong", info.Platform, e.Platform)
	}
	if e.Firmware != "" && !strings.HasPrefix(info.Firmware, e.Firmware) {
		return nil, fmt.Errorf("board runs firmware %q, the inventory expects %q: reflash it", info.Firmware, e.Firmware)
	}
	return info, nil
}
