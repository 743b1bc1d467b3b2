package hwtest

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/tinyprof/tinyprof/device"
	"github.com/tinyprof/tinyprof/device/sim"
)

// simBoards returns n simulated inventory entries of platform p.
func simBoards(p string, ids ...string) []Entry {
	var out []Entry
	for _, id := range ids {
		out = append(out, Entry{ID: id, Platform: p, Sim: true, State: Good, Protocol: "tinyprof"})
	}
	return out
}

// testLab is a Lab over boards with its own lease directory.
func testLab(t *testing.T, boards ...Entry) *Lab {
	t.Helper()
	st, err := NewFlockStore(t.TempDir())
	require.NoError(t, err)
	return &Lab{Boards: boards, Store: st, Device: device.Options{Timeout: time.Second}, Connect: simConnect(nil)}
}

// simConnect serves entries with simulated boards; faulty overrides the
// sim options for some ids.
func simConnect(faulty map[string]sim.Options) ConnectFunc {
	return func(ctx context.Context, e Entry, opts device.Options) (*device.Device, func() error, error) {
		so := faulty[e.ID]
		if so.Platform != "" { // a board that is not what the inventory says
			e.Platform = so.Platform
		}
		return ConnectSim(ctx, e, so, opts)
	}
}

func TestAcquireHealthyBoard(t *testing.T) {
	lab := testLab(t, simBoards("esp32s3", "sim-a")...)
	b, err := lab.Acquire(t.Context(), "TestAcquireHealthyBoard", Platform("esp32s3"))
	require.NoError(t, err)
	defer b.Release()
	info := b.Info()
	require.NotNil(t, info)
	require.Equal(t, "esp32s3", info.Platform)
	_, err = b.Ping(t.Context(), []byte("x"))
	require.NoError(t, err)
	require.Equal(t, "sim-a", b.Entry.ID)
	log := FormatLog(b.Log())
	require.Contains(t, log, "board booted", "the health check's reset is in the log")
	require.Contains(t, log, "hwtest: leased sim-a")

	li, err := lab.Store.Inspect(t.Context(), "sim-a")
	require.NoError(t, err)
	require.True(t, li.Held)
	require.Equal(t, Healthy, li.Health.Status)
	require.NoError(t, b.Release())
	li, err = lab.Store.Inspect(t.Context(), "sim-a")
	require.NoError(t, err)
	require.False(t, li.Held)
}

// A lease that cannot be served gives up before the caller's deadline and
// says who holds each candidate.
func TestAcquireTimeoutNamesHolders(t *testing.T) {
	lab := testLab(t, simBoards("esp32s3", "sim-a", "sim-b")...)
	ctx := t.Context()
	a, err := lab.Acquire(ctx, "TestHolderA", Platform("esp32s3"))
	require.NoError(t, err)
	defer a.Release()
	b, err := lab.Acquire(ctx, "TestHolderB", Platform("esp32s3"))
	require.NoError(t, err)
	defer b.Release()

	start := time.Now()
	_, err = lab.Acquire(ctx, "TestWaiter", Platform("esp32s3"), Timeout(300*time.Millisecond))
	waited := time.Since(start)
	require.ErrorIs(t, err, ErrUnavailable)
	require.Less(t, waited, 5*time.Second)
	msg := err.Error()
	for _, w := range []string{"lease platform=esp32s3", "sim-a: held by pid", "(TestHolderA)", "sim-b: held by pid", "(TestHolderB)"} {
		require.Contains(t, msg, w)
	}
}

// Lease, through a test, skips as infrastructure before the test's
// deadline, naming the holders; with FailInfra it fails instead.
func TestLeaseInfrastructureSkip(t *testing.T) {
	lab := testLab(t, simBoards("esp32s3", "sim-a")...)
	held, err := lab.Acquire(t.Context(), "TestHolder", ID("sim-a"))
	require.NoError(t, err)
	defer held.Release()

	for _, failInfra := range []bool{false, true} {
		lab.Config.FailInfra = failInfra
		ft := newFakeTB(t, "TestWaiter")
		ft.deadline = time.Now().Add(time.Second)
		start := time.Now()
		ft.run(func(tb testing.TB) { lab.Lease(tb, Platform("esp32s3")) })
		require.Less(t, time.Since(start), time.Second, "gave up before the deadline")
		require.True(t, strings.HasPrefix(ft.msg, "infrastructure: lease platform=esp32s3: no matching board became free"), ft.msg)
		require.Contains(t, ft.msg, "sim-a: held by pid")
		require.Contains(t, ft.msg, "(TestHolder)")
		require.Equal(t, failInfra, ft.failed)
		require.Equal(t, !failInfra, ft.skipped)
	}
}

func TestLeaseNoMatch(t *testing.T) {
	lab := testLab(t, append(simBoards("esp32s3", "sim-a"), Entry{ID: "sim-m", Platform: "rp2040", State: Maintenance, Sim: true})...)
	for _, tc := range []struct {
		cs   []Constraint
		want string
	}{
		{[]Constraint{Platform("esp32p4")}, "lease platform=esp32p4: no board matches: the lab has 2 boards"},
		{[]Constraint{Platform("rp2040")}, "sim-m is maintenance in the inventory"},
		{[]Constraint{ID("sim-a"), Feature("power-meter")}, "sim-a has another feature power-meter"},
		{[]Constraint{ID("nope")}, "lease id=nope: no board matches"},
	} {
		start := time.Now()
		_, err := lab.Acquire(t.Context(), "T", tc.cs...)
		require.ErrorIs(t, err, ErrNoMatch)
		require.ErrorContains(t, err, tc.want)
		require.Less(t, time.Since(start), time.Second, "no match is reported at once, without waiting")
	}
	_, err := lab.AcquireN(t.Context(), "T", 2, Platform("esp32s3"))
	require.ErrorContains(t, err, "only 1 boards match")

	lab.Config.Platform = "rp2040"
	_, err = lab.Acquire(t.Context(), "T", Platform("esp32s3"))
	require.ErrorContains(t, err, "-hwtest.platform=rp2040 selects another platform")
	lab.Config = Config{Device: "sim-a"}
	b, err := lab.Acquire(t.Context(), "T")
	require.NoError(t, err)
	require.Equal(t, "sim-a", b.Entry.ID)
	require.NoError(t, b.Release())
}

// A board that fails its health check is reset once, quarantined with a
// reason, and skipped; the next candidate serves the lease. It comes back
// once a recheck passes.
func TestHealthQuarantine(t *testing.T) {
	lab := testLab(t, simBoards("esp32s3", "sim-bad", "sim-good")...)
	lab.Connect = simConnect(map[string]sim.Options{"sim-bad": {Platform: "rp2040"}})
	ctx := t.Context()

	b, err := lab.Acquire(ctx, "TestQ", Platform("esp32s3"))
	require.NoError(t, err)
	require.Equal(t, "sim-good", b.Entry.ID)

	li, err := lab.Store.Inspect(ctx, "sim-bad")
	require.NoError(t, err)
	require.False(t, li.Held, "the quarantined board's lease was released")
	require.Equal(t, Quarantined, li.Health.Status)
	require.Equal(t, 1, li.Health.Failures)
	require.Contains(t, li.Health.Reason, `board reports platform "rp2040", the inventory says "esp32s3"`)
	require.Equal(t, "TestQ", li.Health.By.Test)
	require.NoError(t, b.Release())

	// Quarantined boards are skipped even when they are the only free ones.
	b, err = lab.Acquire(ctx, "TestQ2", Platform("esp32s3"))
	require.NoError(t, err)
	require.Equal(t, "sim-good", b.Entry.ID)
	_, err = lab.Acquire(ctx, "TestQ3", Platform("esp32s3"), Timeout(200*time.Millisecond))
	require.ErrorIs(t, err, ErrUnavailable)
	require.ErrorContains(t, err, "sim-bad: free; quarantined since")
	require.NoError(t, b.Release())

	// Every candidate quarantined: said at once, not after a wait.
	start := time.Now()
	_, err = lab.Acquire(ctx, "TestQ4", ID("sim-bad"))
	require.ErrorIs(t, err, ErrQuarantined)
	require.Less(t, time.Since(start), time.Second)

	// Fixed, and due a recheck: the check passes and returns it to service.
	lab.Connect = simConnect(nil)
	lab.RecheckAfter = time.Nanosecond
	b, err = lab.Acquire(ctx, "TestQ5", ID("sim-bad"))
	require.NoError(t, err)
	require.NoError(t, b.Release())
	li, err = lab.Store.Inspect(ctx, "sim-bad")
	require.NoError(t, err)
	require.Equal(t, Healthy, li.Health.Status)
}

func TestHealthFirmwareMismatch(t *testing.T) {
	e := simBoards("esp32s3", "sim-fw")[0]
	e.Firmware = "tinyprof-agent/0.3"
	lab := testLab(t, e)
	lab.Connect = func(ctx context.Context, e Entry, opts device.Options) (*device.Device, func() error, error) {
		e.Firmware = "tinyprof-agent/0.2.9"
		return ConnectSim(ctx, e, sim.Options{}, opts)
	}
	_, err := lab.Acquire(t.Context(), "T", ID("sim-fw"))
	require.ErrorIs(t, err, ErrQuarantined)
	li, err := lab.Store.Inspect(t.Context(), "sim-fw")
	require.NoError(t, err)
	require.Contains(t, li.Health.Reason, `board runs firmware "tinyprof-agent/0.2.9", the inventory expects "tinyprof-agent/0.3"`)
}

// Two callers that each want two of three boards never deadlock: both
// finish, and no board is ever held twice.
func TestLeaseNNoDeadlock(t *testing.T) {
	lab := testLab(t, simBoards("esp32s3", "sim-a", "sim-b", "sim-c")...)
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	var mu sync.Mutex
	inUse := map[string]bool{}
	errs := make(chan error, 2)
	for w := range 2 {
		go func() {
			for i := range 4 {
				bs, err := lab.AcquireN(ctx, fmt.Sprintf("worker%d-%d", w, i), 2, Platform("esp32s3"))
				if err != nil {
					errs <- err
					return
				}
				mu.Lock()
				for _, b := range bs {
					if inUse[b.Entry.ID] {
						mu.Unlock()
						errs <- fmt.Errorf("%s leased twice", b.Entry.ID)
						return
					}
					inUse[b.Entry.ID] = true
				}
				mu.Unlock()
				time.Sleep(5 * time.Millisecond)
				mu.Lock()
				for _, b := range bs {
					delete(inUse, b.Entry.ID)
				}
				mu.Unlock()
				for _, b := range bs {
					b.Release()
				}
			}
			errs <- nil
		}()
	}
	require.NoError(t, <-errs)
	require.NoError(t, <-errs)
}

// Lease records the board with Attr, releases it in cleanup, and on
// failure attaches the device log to the output and writes it to the log
// directory (or ArtifactDir).
func TestLeaseAttrsAndLogs(t *testing.T) {
	lab := testLab(t, simBoards("esp32s3", "sim-a")...)
	for _, logDir := range []string{"", t.TempDir()} {
		lab.Config.LogDir = logDir
		ft := newFakeTB(t, "TestBoard/sub case")
		ft.run(func(tb testing.TB) {
			b := lab.Lease(tb, Platform("esp32s3"))
			_, err := b.Metrics(tb.Context())
			require.NoError(t, err)
			tb.(*fakeTB).Fail()
		})
		require.Equal(t, map[string]string{"hwtest.board": "sim-a", "hwtest.platform": "esp32s3", "hwtest.firmware": sim.FirmwareVersion}, ft.attrs)
		li, err := lab.Store.Inspect(t.Context(), "sim-a")
		require.NoError(t, err)
		require.False(t, li.Held, "released in cleanup")
		require.Equal(t, Healthy, li.Health.Status, "a failed test on a board that still answers leaves it in service")

		want := filepath.Join(ft.artifactDir, "sim-a.log")
		if logDir != "" {
			want = filepath.Join(logDir, "TestBoard__sub_case", "sim-a.log")
		}
		data, err := os.ReadFile(want)
		require.NoError(t, err)
		require.Contains(t, string(data), "board booted")
		require.Len(t, ft.logs, 1)
		require.Contains(t, ft.logs[0], "hwtest: board sim-a printed")
		require.Contains(t, ft.logs[0], want)
	}

	// A passing test gets no log.
	ft := newFakeTB(t, "TestPass")
	ft.run(func(tb testing.TB) { lab.Lease(tb) })
	require.Empty(t, ft.logs)
}

// Release happens in cleanup after a panic, too.
func TestLeaseReleasedAfterPanic(t *testing.T) {
	lab := testLab(t, simBoards("esp32s3", "sim-a")...)
	t.Run("panics", func(t *testing.T) {
		defer func() { recover() }() // stand in for the testing package's panic report
		t.Cleanup(func() {})
		lab.Lease(t)
		panic("boom")
	})
	li, err := lab.Store.Inspect(t.Context(), "sim-a")
	require.NoError(t, err)
	require.False(t, li.Held)
}

func TestWaitContext(t *testing.T) {
	lab := &Lab{}
	now := time.Now()
	ft := newFakeTB(t, "T")
	ft.deadline = now.Add(10 * time.Second)
	ctx, cancel := lab.waitContext(ft, now)
	d, ok := ctx.Deadline()
	cancel()
	require.True(t, ok)
	require.Equal(t, now.Add(9*time.Second), d, "a tenth of the time left is kept for cleanup")

	lab.Config.LeaseTimeout = time.Second
	ctx, cancel = lab.waitContext(ft, now)
	d, _ = ctx.Deadline()
	cancel()
	require.Equal(t, now.Add(time.Second), d)

	require.Equal(t, 10*time.Second, cleanupMargin(time.Hour))
	require.Equal(t, 200*time.Millisecond, cleanupMargin(time.Second))
}

func TestConfigFromEnv(t *testing.T) {
	t.Setenv(EnvLeaseTimeout, "3s")
	t.Setenv(EnvFailInfra, "true")
	t.Setenv(EnvDevice, "X1")
	c, err := ConfigFromEnv()
	require.NoError(t, err)
	require.Equal(t, 3*time.Second, c.LeaseTimeout)
	require.True(t, c.FailInfra)
	require.Equal(t, "X1", c.Device)
	t.Setenv(EnvLeaseTimeout, "soon")
	_, err = ConfigFromEnv()
	require.ErrorContains(t, err, "TINYPROF_LEASE_TIMEOUT")
}

func TestNewLabSimulated(t *testing.T) {
	if !Simulated {
		t.Skip("simulated build only")
	}
	lab, err := NewLab(Config{LeaseDir: t.TempDir()})
	require.NoError(t, err)
	require.Len(t, lab.Boards, SimBoardsPerPlatform*11+SimEEMBCBoards)

	dir := t.TempDir()
	inv := filepath.Join(dir, "lab.yaml")
	require.NoError(t, os.WriteFile(inv, []byte("boards:\n  - {id: real, platform: esp32s3}\n"), 0o644))
	_, err = NewLab(Config{LeaseDir: dir, Inventory: inv})
	require.ErrorContains(t, err, "no `sim: true` boards")

	require.NoError(t, os.WriteFile(inv, []byte("boards:\n  - {id: x, platform: esp99, sim: true}\n"), 0o644))
	_, err = NewLab(Config{LeaseDir: dir, Inventory: inv})
	require.ErrorContains(t, err, inv+":2: board \"x\": unknown platform")

	file := filepath.Join(dir, "file")
	require.NoError(t, os.WriteFile(file, nil, 0o644))
	_, err = NewLab(Config{LeaseDir: filepath.Join(file, "sub")})
	require.ErrorContains(t, err, "is not usable")
}

// A board that stops answering during a test that then fails, and does
// not answer a fresh connection either, is quarantined when the lease
// ends, so that the next test does not get it. A failed test whose own
// connection broke, on a board that still answers, leaves it in service.
func TestBoardThatBreaksMidTestIsQuarantined(t *testing.T) {
	lab := testLab(t, simBoards("esp32s3", "sim-a")...)
	var connects atomic.Int32
	lab.Connect = func(ctx context.Context, e Entry, opts device.Options) (*device.Device, func() error, error) {
		f := sim.Faults{HangAfter: 12} // hangs during the test
		if connects.Add(1) > 1 {
			f = sim.Faults{Silent: true} // and stays broken
		}
		return ConnectSim(ctx, e, sim.Options{Faults: f}, opts)
	}
	lab.Device.Timeout = 300 * time.Millisecond
	ft := newFakeTB(t, "TestBroke")
	ft.run(func(tb testing.TB) {
		b := lab.Lease(tb)
		for range 20 {
			if _, err := b.Ping(tb.Context(), nil); err != nil {
				tb.(*fakeTB).Fail()
				return
			}
		}
		t.Error("the board never hung")
	})
	require.True(t, ft.failed)
	li, err := lab.Store.Inspect(t.Context(), "sim-a")
	require.NoError(t, err)
	require.False(t, li.Held, "released after the check")
	require.Equal(t, Quarantined, li.Health.Status)
	require.Contains(t, li.Health.Reason, "stopped answering during TestBroke")
	require.Contains(t, li.Health.Reason, "on a fresh connection")
	require.Equal(t, 1, li.Health.Failures)
	logs := strings.Join(ft.logs, "\n")
	require.Contains(t, logs, "hwtest: board sim-a stopped answering during TestBroke")
	require.Contains(t, logs, "quarantined until a health check passes it")
	require.Contains(t, logs, "after the failed test", "the note is in the board's log too")

	_, err = lab.Acquire(t.Context(), "TestNext", ID("sim-a"))
	require.ErrorIs(t, err, ErrQuarantined, "the next test does not get it")

	// A test that broke its own connection, on a board that is fine.
	lab2 := testLab(t, simBoards("esp32s3", "sim-b")...)
	ft = newFakeTB(t, "TestClosedIt")
	ft.run(func(tb testing.TB) {
		b := lab2.Lease(tb)
		b.Device.Close()
		tb.(*fakeTB).Fail()
	})
	li, err = lab2.Store.Inspect(t.Context(), "sim-b")
	require.NoError(t, err)
	require.Equal(t, Healthy, li.Health.Status, "judged on a fresh connection: %s", li.Health.Reason)
	require.Contains(t, strings.Join(ft.logs, "\n"), "on a fresh connection the board passes its health check")
}
