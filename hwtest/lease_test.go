package hwtest

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/tinyprof/tinyprof/device"
	"github.com/tinyprof/tinyprof/device/sim"
	"github.com/tinyprof/tinyprof/lab"
)

// simBoards returns n simulated inventory entries of platform p.
func simBoards(p string, ids ...string) []lab.Entry {
	var out []lab.Entry
	for _, id := range ids {
		out = append(out, lab.Entry{ID: id, Platform: p, Sim: true, State: lab.Good, Protocol: lab.ProtocolTinyprof})
	}
	return out
}

// testLab is a Lab over boards with its own lease directory.
func testLab(t *testing.T, boards ...lab.Entry) *Lab {
	t.Helper()
	st, err := lab.NewFlockStore(t.TempDir())
	require.NoError(t, err)
	return &Lab{Lab: &lab.Lab{Boards: boards, Store: st, Device: device.Options{Timeout: time.Second}}}
}

// TestLeaseConfigPins checks the pins of the Config: a lease for another
// platform or board than -hwtest.platform or -hwtest.device name is
// refused at once, and one that names none gets them.
func TestLeaseConfigPins(t *testing.T) {
	l := testLab(t, append(simBoards("esp32s3", "sim-a"), lab.Entry{ID: "sim-r", Platform: "rp2040", Sim: true})...)
	l.Config.Platform = "rp2040"
	_, err := l.Acquire(t.Context(), "T", Platform("esp32s3"))
	require.ErrorIs(t, err, lab.ErrNoMatch)
	require.ErrorContains(t, err, "-hwtest.platform=rp2040 selects another platform")
	b, err := l.Acquire(t.Context(), "T")
	require.NoError(t, err)
	require.Equal(t, "sim-r", b.Entry.ID)
	require.NoError(t, b.Release())

	l.Config = Config{Device: "sim-a"}
	_, err = l.Acquire(t.Context(), "T", ID("sim-r"))
	require.ErrorContains(t, err, "-hwtest.device=sim-a selects another board")
	b, err = l.Acquire(t.Context(), "T")
	require.NoError(t, err)
	require.Equal(t, "sim-a", b.Entry.ID)
	require.Equal(t, "esp32s3", b.Info().Platform, "a Board is used as the Device it embeds")
	require.Contains(t, lab.FormatLog(b.Log()), "hwtest: leased sim-a")
	require.NoError(t, b.Release())
	require.NoError(t, b.Release(), "Release is idempotent")

	// The Timeout constraint bounds the wait for a held board.
	held, err := l.Acquire(t.Context(), "TestHolder")
	require.NoError(t, err)
	defer held.Release()
	start := time.Now()
	_, err = l.Acquire(t.Context(), "TestWaiter", Timeout(200*time.Millisecond))
	require.ErrorIs(t, err, lab.ErrUnavailable)
	require.Less(t, time.Since(start), 5*time.Second)
}

// Lease, through a test, skips as infrastructure before the test's
// deadline, naming the holders; with FailInfra it fails instead.
func TestLeaseInfrastructureSkip(t *testing.T) {
	l := testLab(t, simBoards("esp32s3", "sim-a")...)
	held, err := l.Acquire(t.Context(), "TestHolder", ID("sim-a"))
	require.NoError(t, err)
	defer held.Release()

	for _, failInfra := range []bool{false, true} {
		l.Config.FailInfra = failInfra
		ft := newFakeTB(t, "TestWaiter")
		ft.deadline = time.Now().Add(time.Second)
		start := time.Now()
		ft.run(func(tb testing.TB) { l.Lease(tb, Platform("esp32s3")) })
		require.Less(t, time.Since(start), time.Second, "gave up before the deadline")
		require.True(t, strings.HasPrefix(ft.msg, "infrastructure: lease platform=esp32s3: no matching board became free"), ft.msg)
		require.Contains(t, ft.msg, "sim-a: held by pid")
		require.Contains(t, ft.msg, "(TestHolder)")
		require.Equal(t, failInfra, ft.failed)
		require.Equal(t, !failInfra, ft.skipped)
	}
}

// Lease records the board with Attr, releases it in cleanup, and on
// failure attaches the device log to the output and writes it to the log
// directory (or ArtifactDir).
func TestLeaseAttrsAndLogs(t *testing.T) {
	l := testLab(t, simBoards("esp32s3", "sim-a")...)
	for _, logDir := range []string{"", t.TempDir()} {
		l.Config.LogDir = logDir
		ft := newFakeTB(t, "TestBoard/sub case")
		ft.run(func(tb testing.TB) {
			b := l.Lease(tb, Platform("esp32s3"))
			_, err := b.Metrics(tb.Context())
			require.NoError(t, err)
			tb.(*fakeTB).Fail()
		})
		require.Equal(t, map[string]string{"hwtest.board": "sim-a", "hwtest.platform": "esp32s3", "hwtest.firmware": sim.FirmwareVersion}, ft.attrs)
		li, err := l.Store.Inspect(t.Context(), "sim-a")
		require.NoError(t, err)
		require.False(t, li.Held, "released in cleanup")
		require.Equal(t, lab.Healthy, li.Health.Status, "a failed test on a board that still answers leaves it in service")

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
	ft.run(func(tb testing.TB) { l.Lease(tb) })
	require.Empty(t, ft.logs)
}

// Release happens in cleanup after a panic, too.
func TestLeaseReleasedAfterPanic(t *testing.T) {
	l := testLab(t, simBoards("esp32s3", "sim-a")...)
	t.Run("panics", func(t *testing.T) {
		defer func() { recover() }() // stand in for the testing package's panic report
		t.Cleanup(func() {})
		l.Lease(t)
		panic("boom")
	})
	li, err := l.Store.Inspect(t.Context(), "sim-a")
	require.NoError(t, err)
	require.False(t, li.Held)
}

func TestWaitContext(t *testing.T) {
	l := &Lab{}
	now := time.Now()
	ft := newFakeTB(t, "T")
	ft.deadline = now.Add(10 * time.Second)
	ctx, cancel := l.waitContext(ft, now)
	d, ok := ctx.Deadline()
	cancel()
	require.True(t, ok)
	require.Equal(t, now.Add(9*time.Second), d, "a tenth of the time left is kept for cleanup")

	l.Config.LeaseTimeout = time.Second
	ctx, cancel = l.waitContext(ft, now)
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
	l, err := NewLab(Config{LeaseDir: t.TempDir()})
	require.NoError(t, err)
	require.Len(t, l.Boards, SimBoardsPerPlatform*11+SimEEMBCBoards+len(emulatedBoards()))

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
	l := testLab(t, simBoards("esp32s3", "sim-a")...)
	var connects atomic.Int32
	l.Connect = func(ctx context.Context, e lab.Entry, opts lab.ConnectOptions) (*lab.Conn, error) {
		opts.Sim.Faults = sim.Faults{HangAfter: 12} // hangs during the test
		if connects.Add(1) > 1 {
			opts.Sim.Faults = sim.Faults{Silent: true} // and stays broken
		}
		return lab.Connect(ctx, e, opts)
	}
	l.Device.Timeout = 300 * time.Millisecond
	ft := newFakeTB(t, "TestBroke")
	ft.run(func(tb testing.TB) {
		b := l.Lease(tb)
		for range 20 {
			if _, err := b.Ping(tb.Context(), nil); err != nil {
				tb.(*fakeTB).Fail()
				return
			}
		}
		t.Error("the board never hung")
	})
	require.True(t, ft.failed)
	li, err := l.Store.Inspect(t.Context(), "sim-a")
	require.NoError(t, err)
	require.False(t, li.Held, "released after the check")
	require.Equal(t, lab.Quarantined, li.Health.Status)
	require.Contains(t, li.Health.Reason, "stopped answering during TestBroke")
	require.Contains(t, li.Health.Reason, "on a fresh connection")
	require.Equal(t, 1, li.Health.Failures)
	logs := strings.Join(ft.logs, "\n")
	require.Contains(t, logs, "hwtest: board sim-a stopped answering during TestBroke")
	require.Contains(t, logs, "quarantined until a health check passes it")
	require.Contains(t, logs, "after the failed test", "the note is in the board's log too")

	_, err = l.Acquire(t.Context(), "TestNext", ID("sim-a"))
	require.ErrorIs(t, err, lab.ErrQuarantined, "the next test does not get it")

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
	require.Equal(t, lab.Healthy, li.Health.Status, "judged on a fresh connection: %s", li.Health.Reason)
	require.Contains(t, strings.Join(ft.logs, "\n"), "on a fresh connection the board passes its health check")
}

func TestSimLeaseDir(t *testing.T) {
	require.True(t, strings.HasPrefix(SimLeaseDir(), os.TempDir()), "the simulated build never touches the lab's lease directory")
}
