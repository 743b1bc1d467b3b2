package etcdstore

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/tinyprof/tinyprof/lab"
	"github.com/tinyprof/tinyprof/lab/etcdstore/etcdtest"
)

// The child processes below are this test binary run again with envHelper
// naming what to do. Each stands in for a test process on another host:
// its own temporary directory, its own host name in its holder records,
// and only etcd in common with the others.
const (
	envHelper    = "ETCDSTORE_HELPER"    // "leaser" or "holder"
	envEndpoints = "ETCDSTORE_ENDPOINTS" // comma-separated
	envLab       = "ETCDSTORE_LAB"
	envOut       = "ETCDSTORE_OUT" // where a leaser writes its intervals
	envCount     = "ETCDSTORE_N"   // how many leases a leaser takes
	envHost      = "ETCDSTORE_HOST"
	envFor       = "ETCDSTORE_FOR" // how long a contender contends
)

var simBoards = []lab.Entry{
	{ID: "sim-a", Platform: "esp32s3", Sim: true, State: lab.Good, Protocol: "tinyprof"},
	{ID: "sim-b", Platform: "esp32s3", Sim: true, State: lab.Good, Protocol: "tinyprof"},
}

// interval is one lease as its holder saw it, from the lease being
// granted to just before its release: both inside the lease.
type interval struct {
	Board      string
	Host       string
	Via        string // "lab" (lab.Lab.Acquire, trying) or "queue" (Store.Lease)
	Start, End int64  // wall clock, ns: comparable across processes on one machine
}

func helperStore(t *testing.T) *Store {
	s, err := New(t.Context(), Options{
		Endpoints: strings.Split(os.Getenv(envEndpoints), ","), Lab: os.Getenv(envLab), TTL: testTTL,
	})
	require.NoError(t, err)
	t.Cleanup(func() { s.Close() })
	return s
}

// TestHelperProcess is not a test: it is the body of the child processes.
func TestHelperProcess(t *testing.T) {
	switch os.Getenv(envHelper) {
	case "leaser":
		leaser(t)
	case "contender":
		contender(t)
	case "holder":
		s := helperStore(t)
		l, err := s.Lease(t.Context(), "sim-a", lab.Holder{PID: os.Getpid(), Host: os.Getenv(envHost), Test: "holder", Since: time.Now()})
		require.NoError(t, err)
		fmt.Printf("leased %d\n", l.Revision)
		time.Sleep(time.Minute) // until killed
	}
}

// leaser takes $ETCDSTORE_N leases, alternating between lab.Lab.Acquire
// (which connects to and health-checks the simulated board, through the
// store's TryAcquire) and the store's own queue on a board picked at
// random, and writes down when it held each.
func leaser(t *testing.T) {
	n, _ := strconv.Atoi(os.Getenv(envCount))
	host := os.Getenv(envHost)
	s := helperStore(t)
	l := &lab.Lab{Boards: simBoards, Store: s}
	var got []interval
	for i := range n {
		ctx, cancel := context.WithTimeout(t.Context(), 40*time.Second)
		var iv interval
		var release func() error
		if i%2 == 0 {
			le, err := l.Acquire(ctx, host, lab.Request{Platform: "esp32s3"})
			require.NoError(t, err)
			iv = interval{Board: le.Entry.ID, Host: host, Via: "lab", Start: time.Now().UnixNano()}
			_, err = le.Conn.Device.Ping(ctx, []byte("busy"))
			require.NoError(t, err)
			release = le.Release
		} else {
			id := simBoards[rand.N(len(simBoards))].ID
			le, err := s.Lease(ctx, id, lab.Holder{PID: os.Getpid(), Host: host, Test: "queue", Since: time.Now()})
			require.NoError(t, err)
			iv = interval{Board: id, Host: host, Via: "queue", Start: time.Now().UnixNano()}
			release = le.Release
		}
		time.Sleep(3 * time.Millisecond)
		iv.End = time.Now().UnixNano()
		require.NoError(t, release())
		cancel()
		got = append(got, iv)
	}
	data, err := json.Marshal(got)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(os.Getenv(envOut), data, 0o644))
}

// helperCmd returns a command that runs this binary as a child doing mode
// against the cluster c, as if on host.
func helperCmd(t *testing.T, mode string, c *etcdtest.Cluster, labName, host string, env ...string) *exec.Cmd {
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperProcess$", "-test.timeout=60s", "-test.count=1")
	cmd.Env = append(os.Environ(), envHelper+"="+mode, envEndpoints+"="+strings.Join(c.Endpoints(), ","),
		envLab+"="+labName, envHost+"="+host, "TMPDIR="+t.TempDir(), "HOME="+t.TempDir())
	cmd.Env = append(cmd.Env, env...)
	return cmd
}

// runChildren runs n children doing mode in the lab labName, as if on
// host0…hostN-1, each with env, waits for them all, and returns the files
// they wrote their results to. A child's output is logged if the test
// fails.
func runChildren(t *testing.T, c *etcdtest.Cluster, mode, labName string, n int, env ...string) []string {
	t.Helper()
	outDir := t.TempDir()
	var cmds []*exec.Cmd
	var outs []string
	for i := range n {
		out := filepath.Join(outDir, fmt.Sprintf("p%d.json", i))
		cmd := helperCmd(t, mode, c, labName, fmt.Sprintf("host%d", i), append([]string{envOut + "=" + out}, env...)...)
		buf := &etcdtest.Buffer{}
		cmd.Stdout, cmd.Stderr = buf, buf
		require.NoError(t, cmd.Start())
		t.Cleanup(func() {
			if t.Failed() {
				t.Logf("child %d output:\n%s", i, buf.String())
			}
		})
		cmds, outs = append(cmds, cmd), append(outs, out)
	}
	for i, cmd := range cmds {
		require.NoError(t, cmd.Wait(), "child %d", i)
	}
	return outs
}

// Four processes, as if on four hosts, lease two boards over and over,
// through lab.Lab and through the store's queue; no two leases of one
// board overlap in time.
func TestLeaseAcrossProcesses(t *testing.T) {
	if testing.Short() {
		t.Skip("starts four processes")
	}
	c := etcdtest.StartCluster(t, 1, nil)
	const procs, each = 4, 10
	outs := runChildren(t, c, "leaser", "multi", procs, envCount+"="+strconv.Itoa(each))
	byBoard := map[string][]interval{}
	vias := map[string]int{}
	for _, out := range outs {
		data, err := os.ReadFile(out)
		require.NoError(t, err)
		var ivs []interval
		require.NoError(t, json.Unmarshal(data, &ivs))
		require.Len(t, ivs, each, "every lease of %s was served", out)
		for _, iv := range ivs {
			byBoard[iv.Board] = append(byBoard[iv.Board], iv)
			vias[iv.Via]++
		}
	}
	require.Len(t, byBoard, 2, "both boards served leases")
	require.Equal(t, map[string]int{"lab": procs * each / 2, "queue": procs * each / 2}, vias)
	for board, ivs := range byBoard {
		sort.Slice(ivs, func(i, j int) bool { return ivs[i].Start < ivs[j].Start })
		for i := 1; i < len(ivs); i++ {
			prev, cur := ivs[i-1], ivs[i]
			require.LessOrEqual(t, prev.End, cur.Start,
				"%s: lease by %s via %s [%d, %d] overlaps lease by %s via %s from %d", board, prev.Host, prev.Via, prev.Start, prev.End, cur.Host, cur.Via, cur.Start)
		}
		t.Logf("%s: %d leases, none overlapping", board, len(ivs))
	}
}

// A holder killed with SIGKILL keeps the board until its TTL runs out —
// never less — and the board is leased again within the TTL plus a second.
func TestLeaseAfterKill9(t *testing.T) {
	c := etcdtest.StartCluster(t, 1, nil)
	cmd := helperCmd(t, "holder", c, "kill9", "doomed")
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	cmd.Stderr = os.Stderr
	require.NoError(t, cmd.Start())
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	leased := make(chan string, 1)
	go func() {
		defer close(leased)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if strings.HasPrefix(sc.Text(), "leased ") {
				leased <- sc.Text()
				return
			}
		}
	}()
	select {
	case _, ok := <-leased:
		require.True(t, ok, "the holder exited before leasing")
	case <-time.After(30 * time.Second):
		t.Fatal("the holder did not lease sim-a within 30s")
	}

	s := newStore(t, "kill9", c.Endpoints()...)
	_, err = s.TryAcquire(t.Context(), "sim-a", holder(t.Name()))
	require.ErrorIs(t, err, lab.ErrHeld)
	require.ErrorContains(t, err, fmt.Sprintf("pid %d on doomed", cmd.Process.Pid))

	require.NoError(t, cmd.Process.Signal(syscall.SIGKILL))
	killed := time.Now()
	_ = cmd.Wait()
	ctx, cancel := context.WithTimeout(t.Context(), 3*testTTL)
	defer cancel()
	l, err := s.Lease(ctx, "sim-a", holder(t.Name()))
	require.NoError(t, err, "the killed holder's board is leased again")
	took := time.Since(killed)
	require.NoError(t, l.Release())
	t.Logf("leased again %v after kill -9 (TTL %v)", took.Round(time.Millisecond), testTTL)
	// The holder renewed at most a third of a TTL before it died, so etcd
	// could not have freed the board much before two thirds of a TTL.
	require.GreaterOrEqual(t, took, testTTL/2, "the board was freed before its TTL ran out")
	require.LessOrEqual(t, took, testTTL+time.Second, "the board was not freed within its TTL plus a second")
}

// contender leases any of the three fairness boards through lab.Lab —
// the store's Acquire, then a health check of the simulated board — over
// and over for $ETCDSTORE_FOR, holding each a few milliseconds, and
// writes down how long each lease waited.
func contender(t *testing.T) {
	d, err := time.ParseDuration(os.Getenv(envFor))
	require.NoError(t, err)
	s := helperStore(t)
	l := &lab.Lab{Boards: fairBoards, Store: s}
	var waits []time.Duration
	for end := time.Now().Add(d); time.Now().Before(end); {
		ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
		t0 := time.Now()
		le, err := l.Acquire(ctx, os.Getenv(envHost), lab.Request{Platform: "esp32s3"})
		require.NoError(t, err)
		waits = append(waits, time.Since(t0))
		time.Sleep(5 * time.Millisecond)
		require.NoError(t, le.Release())
		cancel()
	}
	data, err := json.Marshal(waits)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(os.Getenv(envOut), data, 0o644))
}

var fairBoards = []lab.Entry{
	{ID: "sim-a", Platform: "esp32s3", Sim: true, State: lab.Good, Protocol: "tinyprof"},
	{ID: "sim-b", Platform: "esp32s3", Sim: true, State: lab.Good, Protocol: "tinyprof"},
	{ID: "sim-c", Platform: "esp32s3", Sim: true, State: lab.Good, Protocol: "tinyprof"},
}

// Six processes, as if on six hosts, contend for three boards through
// lab.Lab on the etcd store, each asking again as soon as it releases:
// served in order of arrival, none starves and none is passed over — the
// bar lab's TestLeaseFairness sets for the flock store.
func TestLeaseFairness(t *testing.T) {
	if testing.Short() {
		t.Skip("starts six processes for a few seconds")
	}
	c := etcdtest.StartCluster(t, 1, nil)
	const procs = 6
	outs := runChildren(t, c, "contender", "fair", procs, envFor+"=3s")
	var counts []int
	var all, perMean []time.Duration
	for _, out := range outs {
		data, err := os.ReadFile(out)
		require.NoError(t, err)
		var waits []time.Duration
		require.NoError(t, json.Unmarshal(data, &waits))
		require.NotEmpty(t, waits, "%s: served no lease at all", out)
		counts = append(counts, len(waits))
		all = append(all, waits...)
		var sum time.Duration
		for _, w := range waits {
			sum += w
		}
		perMean = append(perMean, sum/time.Duration(len(waits)))
	}
	var sum, longest time.Duration
	for _, w := range all {
		sum += w
		longest = max(longest, w)
	}
	mean := sum / time.Duration(len(all))
	fair := float64(len(all)) / procs
	t.Logf("%d leases, per process %v (fair share %.1f); wait mean %v, longest %v (%.1fx the mean); per-process mean waits %v",
		len(all), counts, fair, mean.Round(time.Microsecond), longest.Round(time.Microsecond), float64(longest)/float64(mean), perMean)
	for i, n := range counts {
		require.GreaterOrEqual(t, float64(n), fair/2, "process %d starved: %d leases of a fair %.1f (all: %v)", i, n, fair, counts)
		require.LessOrEqual(t, float64(perMean[i]), 3*float64(mean), "process %d waited %v on average, against %v for all: it was passed over", i, perMean[i], mean)
	}
}
