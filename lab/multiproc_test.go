package lab

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
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
)

// The child processes below are this test binary run again with
// envHelper naming what to do — the os/exec self-exec pattern. Each
// stands in for one package's `go test` process under go test -p N,
// leasing from one lease directory.
const (
	envHelper    = "LAB_HELPER"           // "leaser" or "holder"
	envOut       = "LAB_HELPER_OUT"       // where a leaser writes its intervals
	envCount     = "LAB_HELPER_N"         // how many leases a leaser takes
	envInventory = "LAB_HELPER_INVENTORY" // the inventory of the lab
	envLeaseDir  = "LAB_HELPER_LEASES"    // its lease directory
	envFor       = "LAB_HELPER_FOR"       // how long a contender keeps leasing
)

// helperLab is the lab a child process leases from: the simulated boards
// of the inventory its parent wrote, and the parent's lease directory.
func helperLab(t *testing.T) *Lab {
	inv, err := LoadInventory(os.Getenv(envInventory))
	require.NoError(t, err)
	st, err := NewFlockStore(os.Getenv(envLeaseDir))
	require.NoError(t, err)
	return &Lab{Boards: inv.Boards, Store: st}
}

// lease acquires a board for the (sub)test t and releases it when t ends.
func lease(t *testing.T, l *Lab, r Request) *Lease {
	ctx, cancel := context.WithTimeout(t.Context(), 45*time.Second)
	defer cancel()
	le, err := l.Acquire(ctx, t.Name(), r)
	require.NoError(t, err)
	t.Cleanup(func() { le.Release() })
	return le
}

// interval is one lease as its holder saw it: from Lease returning to the
// end of the (sub)test, both inside the lease.
type interval struct {
	Board      string
	PID        int
	Start, End int64 // wall clock, ns: comparable across processes on one host
}

// TestHelperProcess is not a test: it is the body of the child processes.
func TestHelperProcess(t *testing.T) {
	switch os.Getenv(envHelper) {
	case "leaser":
		n, _ := strconv.Atoi(os.Getenv(envCount))
		l := helperLab(t)
		var got []interval
		for i := range n {
			t.Run(strconv.Itoa(i), func(t *testing.T) {
				b := lease(t, l, Request{Platform: "esp32s3"})
				iv := interval{Board: b.Entry.ID, PID: os.Getpid(), Start: time.Now().UnixNano()}
				_, err := b.Conn.Device.Ping(t.Context(), []byte("busy"))
				require.NoError(t, err)
				time.Sleep(3 * time.Millisecond)
				iv.End = time.Now().UnixNano()
				got = append(got, iv)
			})
		}
		data, err := json.Marshal(got)
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(os.Getenv(envOut), data, 0o644))
	case "contender":
		// Lease, hold briefly, release and at once ask again, for a
		// while: the greediest a test process can be.
		d, err := time.ParseDuration(os.Getenv(envFor))
		require.NoError(t, err)
		l := helperLab(t)
		var waits []time.Duration
		for end := time.Now().Add(d); time.Now().Before(end); {
			asked := time.Now()
			ctx, cancel := context.WithTimeout(t.Context(), 45*time.Second)
			b, err := l.Acquire(ctx, t.Name(), Request{Platform: "esp32s3"})
			cancel()
			require.NoError(t, err)
			waits = append(waits, time.Since(asked))
			time.Sleep(20 * time.Millisecond)
			require.NoError(t, b.Release())
		}
		data, err := json.Marshal(waits)
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(os.Getenv(envOut), data, 0o644))
	case "queuer":
		// Take a place in line for sim-a and keep it until killed.
		st, err := NewFlockStore(os.Getenv(envLeaseDir))
		require.NoError(t, err)
		_, err = st.Enqueue(t.Context(), []string{"sim-a"}, Holder{PID: os.Getpid(), Test: t.Name()})
		require.NoError(t, err)
		fmt.Println("queued")
		time.Sleep(time.Minute) // until killed
	case "holder":
		b := lease(t, helperLab(t), Request{ID: "sim-a"})
		fmt.Printf("leased %s\n", b.Entry.ID)
		time.Sleep(time.Minute) // until killed
	}
}

// helperCmd returns a command that runs this binary as a child of mode.
func helperCmd(t *testing.T, mode, inventory, leaseDir string, env ...string) *exec.Cmd {
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperProcess$", "-test.timeout=60s", "-test.count=1")
	cmd.Env = append(os.Environ(), envHelper+"="+mode, envInventory+"="+inventory, envLeaseDir+"="+leaseDir)
	cmd.Env = append(cmd.Env, env...)
	return cmd
}

func writeSimInventory(t *testing.T, ids ...string) string {
	var b strings.Builder
	b.WriteString("boards:\n")
	for _, id := range ids {
		fmt.Fprintf(&b, "  - {id: %s, platform: esp32s3, sim: true}\n", id)
	}
	path := filepath.Join(t.TempDir(), "lab.yaml")
	require.NoError(t, os.WriteFile(path, []byte(b.String()), 0o644))
	return path
}

// Four test processes lease two boards over and over; no two leases of one
// board overlap in time.
func TestLeaseAcrossProcesses(t *testing.T) {
	if testing.Short() {
		t.Skip("starts four processes")
	}
	inv := writeSimInventory(t, "sim-a", "sim-b")
	leaseDir, outDir := t.TempDir(), t.TempDir()
	const procs, each = 4, 12
	var cmds []*exec.Cmd
	var outs []string
	for i := range procs {
		out := filepath.Join(outDir, fmt.Sprintf("p%d.json", i))
		cmd := helperCmd(t, "leaser", inv, leaseDir, envOut+"="+out, envCount+"="+strconv.Itoa(each))
		var buf strings.Builder
		cmd.Stdout, cmd.Stderr = &buf, &buf
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
	byBoard := map[string][]interval{}
	total := 0
	for _, out := range outs {
		data, err := os.ReadFile(out)
		require.NoError(t, err)
		var ivs []interval
		require.NoError(t, json.Unmarshal(data, &ivs))
		require.Len(t, ivs, each, "every lease of %s was served", out)
		for _, iv := range ivs {
			byBoard[iv.Board] = append(byBoard[iv.Board], iv)
			total++
		}
	}
	require.Equal(t, procs*each, total)
	require.ElementsMatch(t, []string{"sim-a", "sim-b"}, keys(byBoard), "both boards served leases")
	for board, ivs := range byBoard {
		sort.Slice(ivs, func(i, j int) bool { return ivs[i].Start < ivs[j].Start })
		for i := 1; i < len(ivs); i++ {
			prev, cur := ivs[i-1], ivs[i]
			require.LessOrEqual(t, prev.End, cur.Start,
				"%s: lease by pid %d [%d, %d] overlaps lease by pid %d from %d", board, prev.PID, prev.Start, prev.End, cur.PID, cur.Start)
		}
		t.Logf("%s: %d leases by %d processes, none overlapping", board, len(ivs), countPIDs(ivs))
	}
}

func keys(m map[string][]interval) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

func countPIDs(ivs []interval) int {
	pids := map[int]bool{}
	for _, iv := range ivs {
		pids[iv.PID] = true
	}
	return len(pids)
}

// A holder killed with SIGKILL never strands its board: the kernel drops
// its lock, and the board is leased again at once.
func TestLeaseAfterKill9(t *testing.T) {
	inv := writeSimInventory(t, "sim-a")
	leaseDir := t.TempDir()
	cmd := helperCmd(t, "holder", inv, leaseDir)
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	defer func() { cmd.Process.Kill(); cmd.Wait() }()

	leased := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if strings.HasPrefix(sc.Text(), "leased ") {
				leased <- sc.Text()
				break
			}
		}
		close(leased)
	}()
	select {
	case line, ok := <-leased:
		require.True(t, ok, "the holder exited before leasing")
		require.Equal(t, "leased sim-a", line)
	case <-time.After(30 * time.Second):
		t.Fatal("the holder did not lease sim-a within 30s")
	}

	st, err := NewFlockStore(leaseDir)
	require.NoError(t, err)
	lab := &Lab{Boards: simBoards("esp32s3", "sim-a"), Store: st, Connect: simConnect(nil)}

	// While it lives, the lease is refused, naming the holder.
	_, err = lab.Acquire(within(t, 100*time.Millisecond), "TestLeaseAfterKill9", Request{ID: "sim-a"})
	require.ErrorIs(t, err, ErrUnavailable)
	require.ErrorContains(t, err, fmt.Sprintf("held by pid %d", cmd.Process.Pid))
	require.ErrorContains(t, err, "(TestHelperProcess)")

	require.NoError(t, cmd.Process.Signal(syscall.SIGKILL))
	killed := time.Now()
	_ = cmd.Wait() // reap it, as a go test parent would
	// The kernel dropped the lock with the process: the very first attempt
	// takes it, with no waiting at all — "within a second" without a clock.
	release, err := st.TryAcquire(t.Context(), "sim-a", Holder{PID: os.Getpid(), Test: t.Name(), Since: time.Now()})
	require.NoError(t, err, "the lock is free the moment its holder is dead")
	require.NoError(t, release())
	ctx, cancel := context.WithTimeout(t.Context(), 15*time.Second)
	defer cancel()
	b, err := lab.Acquire(ctx, "TestLeaseAfterKill9", Request{ID: "sim-a"})
	require.NoError(t, err, "the killed holder's board is leased again")
	took := time.Since(killed)
	require.NoError(t, b.Release())
	t.Logf("leased again %v after kill -9", took.Round(time.Millisecond))
	require.Less(t, took, 10*time.Second, "generous bound; typically well under a second")
}

// Six greedy processes contend for three boards for a few seconds: each
// is served in turn. The test reports the longest single wait against the
// mean, and fails on starvation: a process whose share of the leases is
// under half the fair share, or whose mean wait is over three times the
// mean of all. (The longest single wait is reported, not asserted: one
// health check slowed by a loaded machine makes it, in any order of
// service.) Without a queue the randomised retries let a process starve
// while another takes lease after lease: shares of [2 122 122 122 1 1].
func TestLeaseFairness(t *testing.T) {
	if testing.Short() {
		t.Skip("starts six processes for a few seconds")
	}
	inv := writeSimInventory(t, "sim-a", "sim-b", "sim-c")
	leaseDir, outDir := t.TempDir(), t.TempDir()
	const procs = 6
	var cmds []*exec.Cmd
	var outs []string
	for i := range procs {
		out := filepath.Join(outDir, fmt.Sprintf("p%d.json", i))
		cmd := helperCmd(t, "contender", inv, leaseDir, envOut+"="+out, envFor+"=3s")
		var buf strings.Builder
		cmd.Stdout, cmd.Stderr = &buf, &buf
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
	var counts []int
	var all []time.Duration
	var perMean []time.Duration
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
		// A process passed over again and again waits far longer on
		// average than the rest; one slow health check under load does
		// not move a mean over dozens of leases by much.
		require.LessOrEqual(t, float64(perMean[i]), 3*float64(mean), "process %d waited %v on average, against %v for all: it was passed over", i, perMean[i], mean)
	}
}

// A waiter killed with SIGKILL while in line holds no place after death:
// its ticket's lock went with it, and the next lease passes it over.
func TestQueueAfterKill9(t *testing.T) {
	inv := writeSimInventory(t, "sim-a")
	leaseDir := t.TempDir()
	cmd := helperCmd(t, "queuer", inv, leaseDir)
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	queued := make(chan bool, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		ok := false
		for sc.Scan() {
			if sc.Text() == "queued" {
				ok = true
				break
			}
		}
		queued <- ok
	}()
	select {
	case ok := <-queued:
		require.True(t, ok, "the waiter exited before taking its place")
	case <-time.After(30 * time.Second):
		t.Fatal("the waiter did not take its place within 30s")
	}

	st, err := NewFlockStore(leaseDir)
	require.NoError(t, err)
	lab := &Lab{Boards: simBoards("esp32s3", "sim-a"), Store: st, Connect: simConnect(nil)}
	_, err = lab.Acquire(within(t, 200*time.Millisecond), t.Name(), Request{ID: "sim-a"})
	require.ErrorIs(t, err, ErrUnavailable, "the live waiter is served first")
	require.ErrorContains(t, err, "1 earlier waiters")

	require.NoError(t, cmd.Process.Signal(syscall.SIGKILL))
	_ = cmd.Wait()
	b, err := lab.Acquire(within(t, 15*time.Second), t.Name(), Request{ID: "sim-a"})
	require.NoError(t, err, "the killed waiter's place is gone")
	require.NoError(t, b.Release())
}
