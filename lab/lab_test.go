package lab

import (
	"context"
	"fmt"
	"sync"
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
	return func(ctx context.Context, e Entry, opts ConnectOptions) (*Conn, error) {
		so := faulty[e.ID]
		if so.Platform != "" { // a board that is not what the inventory says
			e.Platform = so.Platform
		}
		opts.Sim = so
		return Connect(ctx, e, opts)
	}
}

// within returns a context that ends after d, as a lease's wait would.
func within(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), d)
	t.Cleanup(cancel)
	return ctx
}

func TestAcquireHealthyBoard(t *testing.T) {
	lab := testLab(t, simBoards("esp32s3", "sim-a")...)
	b, err := lab.Acquire(t.Context(), "TestAcquireHealthyBoard", Request{Platform: "esp32s3"})
	require.NoError(t, err)
	defer b.Release()
	info := b.Conn.Device.Info()
	require.NotNil(t, info)
	require.Equal(t, "esp32s3", info.Platform)
	_, err = b.Conn.Device.Ping(t.Context(), []byte("x"))
	require.NoError(t, err)
	require.Equal(t, "sim-a", b.Entry.ID)
	log := FormatLog(b.Log.Lines())
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
	a, err := lab.Acquire(ctx, "TestHolderA", Request{Platform: "esp32s3"})
	require.NoError(t, err)
	defer a.Release()
	b, err := lab.Acquire(ctx, "TestHolderB", Request{Platform: "esp32s3"})
	require.NoError(t, err)
	defer b.Release()

	start := time.Now()
	_, err = lab.Acquire(within(t, 300*time.Millisecond), "TestWaiter", Request{Platform: "esp32s3"})
	waited := time.Since(start)
	require.ErrorIs(t, err, ErrUnavailable)
	require.Less(t, waited, 5*time.Second)
	msg := err.Error()
	for _, w := range []string{"lease platform=esp32s3", "sim-a: held by pid", "(TestHolderA)", "sim-b: held by pid", "(TestHolderB)"} {
		require.Contains(t, msg, w)
	}
}

func TestLeaseNoMatch(t *testing.T) {
	lab := testLab(t, append(simBoards("esp32s3", "sim-a"), Entry{ID: "sim-m", Platform: "rp2040", State: Maintenance, Sim: true})...)
	for _, tc := range []struct {
		r    Request
		want string
	}{
		{Request{Platform: "esp32p4"}, "lease platform=esp32p4: no board matches: the lab has 2 boards"},
		{Request{Platform: "rp2040"}, "sim-m is maintenance in the inventory"},
		{Request{ID: "sim-a", Features: []string{"power-meter"}}, "sim-a has another feature power-meter"},
	} {
		start := time.Now()
		_, err := lab.Acquire(t.Context(), "T", tc.r)
		require.ErrorIs(t, err, ErrNoMatch)
		require.ErrorContains(t, err, tc.want)
		require.Less(t, time.Since(start), time.Second, "no match is reported at once, without waiting")
	}
	_, err := lab.AcquireN(t.Context(), "T", 2, Request{Platform: "esp32s3"})
	require.ErrorContains(t, err, "only 1 boards match")
	_, err = lab.Acquire(t.Context(), "T", Request{ID: "sim-b"})
	require.ErrorIs(t, err, ErrUnknown, "an id the lab does not have is a mistake, not a lab condition")
	_, err = lab.AcquireN(t.Context(), "T", 0, Request{})
	require.ErrorContains(t, err, "need at least one")
}

// A board that fails its health check is reset once, quarantined with a
// reason, and skipped; the next candidate serves the lease. It comes back
// once a recheck passes.
func TestHealthQuarantine(t *testing.T) {
	lab := testLab(t, simBoards("esp32s3", "sim-bad", "sim-good")...)
	lab.Connect = simConnect(map[string]sim.Options{"sim-bad": {Platform: "rp2040"}})
	ctx := t.Context()

	b, err := lab.Acquire(ctx, "TestQ", Request{Platform: "esp32s3"})
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
	b, err = lab.Acquire(ctx, "TestQ2", Request{Platform: "esp32s3"})
	require.NoError(t, err)
	require.Equal(t, "sim-good", b.Entry.ID)
	_, err = lab.Acquire(within(t, 200*time.Millisecond), "TestQ3", Request{Platform: "esp32s3"})
	require.ErrorIs(t, err, ErrUnavailable)
	require.ErrorContains(t, err, "sim-bad: free; quarantined since")
	require.NoError(t, b.Release())

	// Every candidate quarantined: said at once, not after a wait.
	start := time.Now()
	_, err = lab.Acquire(ctx, "TestQ4", Request{ID: "sim-bad"})
	require.ErrorIs(t, err, ErrQuarantined)
	require.Less(t, time.Since(start), time.Second)

	// Fixed, and due a recheck: the check passes and returns it to service.
	lab.Connect = simConnect(nil)
	lab.RecheckAfter = time.Nanosecond
	b, err = lab.Acquire(ctx, "TestQ5", Request{ID: "sim-bad"})
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
	lab.Connect = func(ctx context.Context, e Entry, opts ConnectOptions) (*Conn, error) {
		e.Firmware = "tinyprof-agent/0.2.9"
		return Connect(ctx, e, opts)
	}
	_, err := lab.Acquire(t.Context(), "T", Request{ID: "sim-fw"})
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
				bs, err := lab.AcquireN(ctx, fmt.Sprintf("worker%d-%d", w, i), 2, Request{Platform: "esp32s3"})
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

// A request that names what cannot exist fails at once as ErrUnknown,
// naming the closest known names, and is told apart from a lab that merely
// has no such board (ErrNoMatch).
func TestLeaseUnknownRequest(t *testing.T) {
	lab := testLab(t, append(simBoards("esp32s3", "sim-esp32s3-1", "sim-esp32s3-2"),
		Entry{ID: "sim-meter", Platform: "rp2040", Sim: true, Features: []string{"ina219"}})...)
	for _, tc := range []struct {
		name string
		r    Request
		want string
	}{
		{"hyphenated platform", Request{Platform: "esp32-s3"}, `lease platform=esp32-s3: unknown platform "esp32-s3": not in the platform catalogue; did you mean "esp32s3"`},
		{"platform typo", Request{Platform: "esp32p5"}, `unknown platform "esp32p5": not in the platform catalogue; did you mean "esp32p4"`},
		{"nothing close", Request{Platform: "zx81"}, `unknown platform "zx81": not in the platform catalogue`},
		{"feature typo", Request{Features: []string{"pasram"}}, `unknown feature "pasram": not in the well-known features (power-meter, psram) or those the lab's boards list; did you mean "psram"?`},
		{"feature of the lab", Request{Features: []string{"ina291"}}, `did you mean "ina219"?`},
		{"id typo", Request{ID: "sim-esp32s3-3"}, `unknown id "sim-esp32s3-3": not in this lab's 3 boards; did you mean "sim-esp32s3-1" or "sim-esp32s3-2"?`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := lab.Acquire(t.Context(), "T", tc.r)
			require.ErrorIs(t, err, ErrUnknown)
			require.NotErrorIs(t, err, ErrNoMatch)
			require.ErrorContains(t, err, tc.want)
			var re *RequestError
			require.ErrorAs(t, err, &re)
		})
	}
	for _, r := range []Request{{Platform: "ESP32S3"}, {Platform: "rp2040", Features: []string{"psram"}}} {
		le, err := lab.Acquire(t.Context(), "T", r)
		if err == nil {
			require.NoError(t, le.Release())
			continue
		}
		require.NotErrorIs(t, err, ErrUnknown, "%v names only known things", r)
	}
}
