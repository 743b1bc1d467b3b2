package hwtest

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/stretchr/testify/require"

	"github.com/tinyprof/tinyprof/lab"
	"github.com/tinyprof/tinyprof/lab/etcdstore"
	"github.com/tinyprof/tinyprof/lab/etcdstore/etcdtest"
	"github.com/tinyprof/tinyprof/lab/export"
)

// labUserTests is the test file of a user's module that benchmarks a
// board and pings one, leased from whatever lab its flags name.
const labUserTests = `package labuser

import (
	"testing"

	"github.com/tinyprof/tinyprof/bench"
	"github.com/tinyprof/tinyprof/fixtures"
	"github.com/tinyprof/tinyprof/hwtest"
)

func TestMain(m *testing.M) { hwtest.Main(m) }

func TestPing(t *testing.T) {
	dev := hwtest.Lease(t, hwtest.Platform("esp32s3"))
	if _, err := dev.Ping(dev.Context(), []byte("hello")); err != nil {
		t.Fatal(err)
	}
	t.Logf("port %s", dev.Entry.Port)
}

func BenchmarkGenerate(b *testing.B) {
	dev := hwtest.Lease(b, hwtest.Platform("esp32s3"))
	bench.Generate(b, dev, fixtures.Llama2C(fixtures.Stories260K, fixtures.Seed), bench.Tokens(24), bench.Seed(7))
}
`

// The lab of many machines end to end: on one side an exporter with the
// real ser2net (Debian's, started here and killed with the test) in front
// of a simulated board; on the other a user's go test with -hwtest.lab,
// which leases the board from etcd's published boards and benchmarks it
// over RFC 2217. Its figures — all from the board's own clock — equal a
// run on the same simulated board opened directly, and the test's
// hwtest.host property names the exporter's host.
func TestLabEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a go test binary of its own; skipped with -short")
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command on PATH")
	}
	s2nBin := etcdtest.Require(t, export.FindSer2net)
	srv := etcdtest.Start(t)
	st, err := etcdstore.New(t.Context(), etcdstore.Options{Endpoints: []string{srv.Endpoint}, Lab: "e2e"})
	require.NoError(t, err)
	t.Cleanup(func() { st.Close() })

	board := lab.Entry{ID: "sim-lab-1", Platform: "esp32s3", Protocol: lab.ProtocolTinyprof, Sim: true}
	cfg := filepath.Join(t.TempDir(), "ser2net.yaml")
	ctx, cancel := context.WithCancel(t.Context())
	stopped := make(chan error, 1)
	go func() {
		stopped <- export.Run(ctx, export.Options{
			Store: st, Boards: []lab.Entry{board}, Advertise: "localhost", Listen: "127.0.0.1",
			BasePort: etcdtest.PortRun(t, 1), Ser2netConfig: cfg, Poll: 100 * time.Millisecond,
			Ser2net: s2nBin,
		})
	}()
	exported := false
	t.Cleanup(func() {
		cancel()
		if !exported {
			<-stopped
		}
	})
	require.Eventually(t, func() bool {
		pubs, err := st.Boards(t.Context())
		return err == nil && len(pubs) == 1
	}, 20*time.Second, 20*time.Millisecond, "the exporter published the board")

	// The user's module, built once, run twice.
	root, err := filepath.Abs("..")
	require.NoError(t, err)
	gosum, err := os.ReadFile(filepath.Join(root, "go.sum"))
	require.NoError(t, err)
	dir := t.TempDir()
	gomod := fmt.Sprintf("module example.com/labuser\n\ngo 1.26\n\nrequire github.com/tinyprof/tinyprof v0.0.0\n\nreplace github.com/tinyprof/tinyprof => %s\n", root)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "go.mod"), []byte(gomod), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "go.sum"), gosum, 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "lab_test.go"), []byte(labUserTests), 0o644))
	bin := filepath.Join(dir, "labuser.test")
	bctx, bcancel := context.WithTimeout(t.Context(), timeLeft(t))
	defer bcancel()
	build := exec.CommandContext(bctx, goBin, "test", "-c", "-o", bin, ".")
	build.Dir, build.Env = dir, userEnv(t)
	out, err := build.CombinedOutput()
	require.NoError(t, err, "build the user's tests: %s", out)

	inv := filepath.Join(dir, "direct.yaml")
	require.NoError(t, os.WriteFile(inv, []byte("boards:\n  - {id: sim-lab-1, platform: esp32s3, sim: true}\n"), 0o644))
	runUser := func(args ...string) string {
		t.Helper()
		cmd := exec.CommandContext(bctx, bin, append([]string{"-test.v", "-test.run=^TestPing$", "-test.bench=.", "-test.benchtime=3x", "-test.count=1"}, args...)...)
		cmd.Dir, cmd.Env = dir, userEnv(t)
		out, err := cmd.CombinedOutput()
		require.NoError(t, err, "%s", out)
		return string(out)
	}
	remote := runUser("-hwtest.lab=" + srv.URL("e2e", 0))
	direct := runUser("-hwtest.inventory=" + inv)

	require.Regexp(t, `port rfc2217://localhost:\d+`, remote, "leased over RFC 2217")
	require.Contains(t, remote, "hwtest.host localhost", "the JUnit property names the host the board is plugged into")
	require.Contains(t, remote, "hwtest.simulated true")
	require.NotContains(t, direct, "rfc2217://")
	want, got := benchFigures(t, direct), benchFigures(t, remote)
	// The simulated power average covers the wall time between the
	// host's memory reads, idle gaps included, so it differs between
	// any two runs, direct or not; every other figure is the board's
	// clock and must be the same.
	for _, unit := range []string{"W", "J/tok", "J/tok-min", "J/tok-max", "idle-W"} {
		if want[unit] != "" || got[unit] != "" {
			t.Logf("%s: direct %s, over RFC 2217 %s (host-timed, not compared)", unit, want[unit], got[unit])
		}
		delete(want, unit)
		delete(got, unit)
	}
	require.GreaterOrEqual(t, len(want), 8, "the benchmark reports its figures: %s", direct)
	require.Empty(t, cmp.Diff(want, got), "figures over RFC 2217 differ from the direct run's (-direct +remote)")
	t.Logf("over RFC 2217 and direct alike: %v", got)

	cancel()
	exported = true
	require.NoError(t, <-stopped)
	left, err := st.Boards(t.Context())
	require.NoError(t, err)
	require.Empty(t, left, "the exporter left its board published")
}

var benchLine = regexp.MustCompile(`(?m)^BenchmarkGenerate\S*\s+\d+\s+(.*)$`)

// benchFigures returns the BenchmarkGenerate line's figures by unit.
func benchFigures(t *testing.T, out string) map[string]string {
	t.Helper()
	m := benchLine.FindStringSubmatch(out)
	require.NotNil(t, m, "no benchmark line in:\n%s", out)
	f := strings.Fields(m[1])
	figs := map[string]string{}
	for i := 0; i+1 < len(f); i += 2 {
		figs[f[i+1]] = f[i]
	}
	return figs
}
