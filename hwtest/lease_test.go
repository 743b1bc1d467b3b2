package hwtest

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tinyprof/tinyprof/device"
	"github.com/tinyprof/tinyprof/device/sim"
	"github.com/tinyprof/tinyprof/lab"
	"github.com/tinyprof/tinyprof/platform"
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
	return &Lab{Lab: &lab.Lab{Boards: boards, Store: st, Device: device.Options{Timeout: time.Second}}, tally: &runTally{}}
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
		// Lease aims to give up 200 ms before the deadline (cleanupMargin,
		// tested on its own); the bound here only catches a wait that
		// ignores the deadline, with room for a loaded machine.
		require.Less(t, time.Since(start), 5*time.Second, "waited past the test's deadline")
		require.True(t, strings.HasPrefix(ft.msg, "infrastructure: lease platform=esp32s3: no matching board became free"), ft.msg)
		require.Contains(t, ft.msg, "sim-a: held by pid")
		require.Contains(t, ft.msg, "(TestHolder)")
		require.Equal(t, failInfra, ft.failed)
		require.Equal(t, !failInfra, ft.skipped)
	}
}

// Lease records the board, its kind and its host with Attr, releases it
// in cleanup, and on failure attaches the device log to the output and
// writes it where it outlives the run: the log directory, or this run's
// folder under the state directory.
func TestLeaseAttrsAndLogs(t *testing.T) {
	l := testLab(t, simBoards("esp32s3", "sim-a")...)
	host, err := os.Hostname()
	require.NoError(t, err)
	state := t.TempDir()
	t.Setenv(EnvStateDir, state)
	for _, logDir := range []string{"", t.TempDir()} {
		l.Config.LogDir = logDir
		ft := newFakeTB(t, "TestBoard/sub case")
		ft.run(func(tb testing.TB) {
			b := l.Lease(tb, Platform("esp32s3"))
			_, err := b.Metrics(tb.Context())
			require.NoError(t, err)
			tb.(*fakeTB).Fail()
		})
		want := map[string]string{"hwtest.board": "sim-a", "hwtest.platform": "esp32s3", "hwtest.firmware": sim.FirmwareVersion,
			"hwtest.simulated": "true", "hwtest.emulated": "false", "hwtest.host": host}
		require.Empty(t, cmp.Diff(want, ft.attrs), "(-want +got)")
		li, err := l.Store.Inspect(t.Context(), "sim-a")
		require.NoError(t, err)
		require.False(t, li.Held, "released in cleanup")
		require.Equal(t, lab.Healthy, li.Health.Status, "a failed test on a board that still answers leaves it in service")

		var path string
		if logDir != "" {
			path = filepath.Join(logDir, "TestBoard__sub_case", "sim-a.log")
		} else {
			runs, err := filepath.Glob(filepath.Join(state, "logs", "*-hwtest-*", "TestBoard__sub_case", "sim-a.log"))
			require.NoError(t, err)
			require.Len(t, runs, 1, "one folder for the run, one for the test")
			path = runs[0]
			require.NotContains(t, path, ft.artifactDir, "not in t.ArtifactDir, which go test deletes without -artifacts")
		}
		data, err := os.ReadFile(path)
		require.NoError(t, err)
		require.Contains(t, string(data), "board booted")
		require.Len(t, ft.logs, 1)
		require.Contains(t, ft.logs[0], "hwtest: board sim-a printed")
		require.Contains(t, ft.logs[0], "(all in "+path+")")
	}
	var sum strings.Builder
	l.tally.write(&sum)
	require.Contains(t, sum.String(), "hwtest: device logs of 1 board of failed tests are in "+filepath.Join(state, "logs"))

	// A passing test gets no log.
	ft := newFakeTB(t, "TestPass")
	ft.run(func(tb testing.TB) { l.Lease(tb) })
	require.Empty(t, ft.logs)
}

// A lease that names a platform, feature or board that does not exist, in
// the test or in the flags, fails the test at once, naming the closest
// known names; one that names a real platform this lab lacks is a lab
// condition, and skips.
func TestLeaseUnknownFails(t *testing.T) {
	l := testLab(t, simBoards("esp32s3", "sim-esp32s3-1")...)
	for _, tc := range []struct {
		name string
		cfg  Config
		cs   []Constraint
		fail bool
		want string
	}{
		{"platform typo", Config{}, []Constraint{Platform("esp32-s3")}, true,
			`hwtest: lease platform=esp32-s3: unknown platform "esp32-s3": not in the platform catalogue; did you mean "esp32s3"`},
		{"platform flag typo", Config{Platform: "esp32p5"}, nil, true,
			`hwtest: -hwtest.platform=esp32p5 (or TINYPROF_PLATFORM): unknown platform "esp32p5": not in the platform catalogue; did you mean "esp32p4"`},
		{"typo beside a platform flag", Config{Platform: "esp32s3"}, []Constraint{Platform("esp32-s3")}, true, `did you mean "esp32s3"`},
		{"feature typo", Config{}, []Constraint{Feature("pasram")}, true, `unknown feature "pasram"`},
		{"id typo", Config{}, []Constraint{ID("sim-esp32s3-l")}, true, `unknown id "sim-esp32s3-l": not in this lab's 1 board`},
		{"device flag typo", Config{Device: "sim-esp32s4-1"}, nil, true, `-hwtest.device=sim-esp32s4-1 (or TINYPROF_DEVICE): unknown id`},
		{"a platform this lab lacks", Config{}, []Constraint{Platform("rp2040")}, false,
			"infrastructure: lease platform=rp2040: no board matches"},
		{"a feature this lab lacks", Config{}, []Constraint{Feature("power-meter")}, false,
			"infrastructure: lease feature=power-meter: no board matches"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l.Config = tc.cfg
			ft := newFakeTB(t, "TestTypo")
			ft.run(func(tb testing.TB) { l.Lease(tb, tc.cs...) })
			require.Equal(t, tc.fail, ft.failed, ft.msg)
			require.Equal(t, !tc.fail, ft.skipped, ft.msg)
			require.Contains(t, ft.msg, tc.want)
		})
	}
}

// A lease that waits for a held board says for which, and who holds it,
// in the test's log, and again while it waits; none of it after the lease
// returns.
func TestLeaseSaysWhatItWaitsFor(t *testing.T) {
	l := testLab(t, simBoards("esp32s3", "sim-a")...)
	l.waitNotice, l.waitEvery = 10*time.Millisecond, 10*time.Millisecond
	held, err := l.Acquire(t.Context(), "TestHolder")
	require.NoError(t, err)
	var notices atomic.Int32
	ft := newFakeTB(t, "TestWaiter")
	ft.onLog = func(line string) {
		if strings.HasPrefix(line, "hwtest: waiting for") && notices.Add(1) == 2 {
			assert.NoError(t, held.Release()) // free it once it has said so twice
		}
	}
	ft.run(func(tb testing.TB) {
		l.Lease(tb)
		assert.GreaterOrEqual(t, notices.Load(), int32(2))
	})
	require.False(t, ft.skipped || ft.failed, ft.msg)
	host, _ := os.Hostname()
	want := fmt.Sprintf("hwtest: waiting for sim-a, held by pid %d on %s (TestHolder) since %s", os.Getpid(), host, held.Holder.Since.Format("15:04:05"))
	require.True(t, strings.HasPrefix(ft.logs[0], want), "%s\nwant prefix %s", ft.logs[0], want)
	require.Contains(t, ft.logs[0], "so far, for any board)")
	n := len(ft.logs)
	time.Sleep(30 * time.Millisecond)
	require.Len(t, ft.logs, n, "no notice after the lease returned")
}

// The summary counts the tests skipped for infrastructure by condition,
// naming them, and leaves out those that ran.
func TestSummary(t *testing.T) {
	l := testLab(t, simBoards("esp32s3", "sim-a")...)
	held, err := l.Acquire(t.Context(), "TestHolder")
	require.NoError(t, err)
	defer held.Release()
	for _, name := range []string{"TestW1", "TestW2", "TestW3", "TestW4"} {
		ft := newFakeTB(t, name)
		ft.run(func(tb testing.TB) { l.Lease(tb, Timeout(20*time.Millisecond)) })
		require.True(t, ft.skipped)
	}
	l.Config.FailInfra = true
	ft := newFakeTB(t, "TestQ")
	ft.run(func(tb testing.TB) { l.Lease(tb, Platform("rp2040")) })
	require.True(t, ft.failed)
	ft = newFakeTB(t, "TestTypo")
	ft.run(func(tb testing.TB) { l.Lease(tb, Platform("rp2041")) })
	require.True(t, ft.failed, "a typo is not counted as infrastructure")

	var b strings.Builder
	l.tally.write(&b)
	want := "hwtest: 4 tests skipped for infrastructure: 4 lease any board: no matching board became free in time (TestW1, TestW2, TestW3 and 1 more)\n" +
		"hwtest: 1 test failed for infrastructure: 1 lease platform=rp2040: no board matches (TestQ)\n"
	require.Empty(t, cmp.Diff(want, b.String()), "(-want +got)")

	b.Reset()
	(&runTally{}).write(&b)
	require.Empty(t, b.String(), "nothing to say, nothing said")
}

// pruneRuns keeps the newest run folders and leaves what it did not make.
func TestPruneRuns(t *testing.T) {
	dir := t.TempDir()
	for _, name := range []string{"20261201T100000Z-a-1", "20261201T110000Z-a-2", "20261201T120000Z-b-3", "mine"} {
		require.NoError(t, os.Mkdir(filepath.Join(dir, name), 0o755))
	}
	pruneRuns(dir, 2)
	ents, err := os.ReadDir(dir)
	require.NoError(t, err)
	var got []string
	for _, e := range ents {
		got = append(got, e.Name())
	}
	require.Empty(t, cmp.Diff([]string{"20261201T110000Z-a-2", "20261201T120000Z-b-3", "mine"}, got), "(-want +got)")
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
	simulable := len(platform.Names()) - len(platform.Emulated())
	require.Len(t, l.Boards, SimBoardsPerPlatform*simulable+SimEEMBCBoards+len(emulatedBoards()))

	dir := t.TempDir()
	inv := filepath.Join(dir, "lab.yaml")
	require.NoError(t, os.WriteFile(inv, []byte("boards:\n  - {id: real, platform: esp32s3}\n"), 0o644))
	_, err = NewLab(Config{LeaseDir: dir, Inventory: inv})
	require.ErrorContains(t, err, "no `sim: true` boards")
	require.NoError(t, os.WriteFile(inv, []byte("boards: []\n"), 0o644))
	_, err = NewLab(Config{LeaseDir: dir, Inventory: inv})
	require.ErrorContains(t, err, "no `sim: true` boards", "an empty lab cannot run a test either")
	_, err = NewLab(Config{LeaseDir: dir, Inventory: filepath.Join(dir, "nonexistent.yaml")})
	require.ErrorIs(t, err, fs.ErrNotExist)

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

// A lease waiting its turn behind an earlier waiter says so, since the
// board it waits for looks free.
func TestLeaseSaysItWaitsInLine(t *testing.T) {
	l := testLab(t, simBoards("esp32s3", "sim-a")...)
	l.waitNotice, l.waitEvery = 10*time.Millisecond, 10*time.Millisecond
	st, ok := l.Store.(*lab.FlockStore)
	require.True(t, ok)
	earlier, err := st.Enqueue(t.Context(), []string{"sim-a"}, lab.Holder{PID: os.Getpid(), Test: "TestEarlier"})
	require.NoError(t, err)
	defer earlier.Leave()
	var notices atomic.Int32
	ft := newFakeTB(t, "TestWaiter")
	ft.onLog = func(line string) {
		if strings.HasPrefix(line, "hwtest: waiting for") && notices.Add(1) == 2 {
			assert.NoError(t, earlier.Leave()) // its turn comes once the earlier waiter goes
		}
	}
	ft.run(func(tb testing.TB) { l.Lease(tb) })
	require.False(t, ft.skipped || ft.failed, ft.msg)
	require.Contains(t, ft.logs[0], "hwtest: waiting for sim-a, free now; 2 waiters in line for these boards, this one included")
}
