package hwtest

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// userTests is the test file of a module that uses tinyprof as a user's
// would: Main in TestMain, and two tests that lease a board of platform
// %[1]q.
const userTests = `package labuser

import (
	"testing"

	"github.com/tinyprof/tinyprof/hwtest"
)

func TestMain(m *testing.M) { hwtest.Main(m) }

func TestPing(t *testing.T) {
	dev := hwtest.Lease(t, hwtest.Platform(%[1]q))
	if _, err := dev.Ping(t.Context(), []byte("hello")); err != nil {
		t.Fatal(err)
	}
}

func TestInfo(t *testing.T) {
	dev := hwtest.Lease(t, hwtest.Platform(%[1]q))
	if got := dev.Info().Platform; got != %[1]q {
		t.Errorf("platform %%s", got)
	}
}
`

// A suite that cannot run must not pass: go test, run on a module of the
// user's with a typo in a platform, in -hwtest.platform, with -tags=hardware
// and no inventory, or with an inventory that does not exist, fails —
// where it used to skip every test as infrastructure and print ok. A lab
// that is merely short of boards still skips, and says so in one line.
func TestSuiteThatCannotRunFails(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs go test on a module of its own; skipped with -short")
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command on PATH")
	}
	root, err := filepath.Abs("..")
	require.NoError(t, err)
	gosum, err := os.ReadFile(filepath.Join(root, "go.sum"))
	require.NoError(t, err)

	maintenance := filepath.Join(t.TempDir(), "lab.yaml")
	require.NoError(t, os.WriteFile(maintenance, []byte("boards:\n  - {id: sim-1, platform: esp32s3, sim: true, state: maintenance}\n"), 0o644))

	for _, tc := range []struct {
		name     string
		platform string
		goArgs   []string // before the package
		args     []string // for the test binary
		pass     bool
		want     []string
	}{
		{name: "leases a board", platform: "esp32s3", goArgs: []string{"-json"}, pass: true,
			// The properties gotestsum writes to the JUnit report.
			want: []string{"--- PASS: TestPing", "--- PASS: TestInfo", `"Key":"hwtest.simulated","Value":"true"`,
				`"Key":"hwtest.emulated","Value":"false"`, `"Key":"hwtest.host","Value":`}},
		{name: "typo in the test", platform: "esp32-s3",
			want: []string{"--- FAIL: TestPing", `unknown platform "esp32-s3": not in the platform catalogue; did you mean "esp32s3"`}},
		{name: "typo in -hwtest.platform", platform: "esp32s3", args: []string{"-hwtest.platform=esp32p5"},
			want: []string{"--- FAIL: TestPing", `-hwtest.platform=esp32p5 (or TINYPROF_PLATFORM): unknown platform "esp32p5"`, `did you mean "esp32p4"`}},
		{name: "hardware build without an inventory", platform: "esp32s3", goArgs: []string{"-tags=hardware"},
			want: []string{"--- FAIL: TestPing", "the hardware build leases the real boards of an inventory, and there is none"}},
		{name: "named inventory missing", platform: "esp32s3", args: []string{"-hwtest.inventory=/nonexistent.yaml"},
			want: []string{"--- FAIL: TestPing", "inventory /nonexistent.yaml does not exist"}},
		{name: "lab short of boards", platform: "esp32s3", args: []string{"-hwtest.inventory=" + maintenance}, pass: true,
			want: []string{"--- SKIP: TestPing", "infrastructure: lease platform=esp32s3: no board matches",
				"hwtest: 2 tests skipped for infrastructure: 2 lease platform=esp32s3: no board matches (TestPing, TestInfo)"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			gomod := fmt.Sprintf("module example.com/labuser\n\ngo 1.26\n\nrequire github.com/tinyprof/tinyprof v0.0.0\n\nreplace github.com/tinyprof/tinyprof => %s\n", root)
			require.NoError(t, os.WriteFile(filepath.Join(dir, "go.mod"), []byte(gomod), 0o644))
			require.NoError(t, os.WriteFile(filepath.Join(dir, "go.sum"), gosum, 0o644))
			require.NoError(t, os.WriteFile(filepath.Join(dir, "lab_test.go"), fmt.Appendf(nil, userTests, tc.platform), 0o644))

			args := append([]string{"test", "-count=1", "-v"}, tc.goArgs...)
			args = append(append(args, "."), tc.args...)
			ctx, cancel := context.WithTimeout(t.Context(), timeLeft(t))
			defer cancel()
			cmd := exec.CommandContext(ctx, goBin, args...)
			cmd.Dir = dir
			cmd.Env = userEnv(t)
			out, err := cmd.CombinedOutput()
			if tc.pass {
				require.NoError(t, err, "%s", out)
			} else {
				require.Error(t, err, "go test must fail:\n%s", out)
				require.Contains(t, string(out), "FAIL\texample.com/labuser")
				require.NotContains(t, string(out), "--- SKIP", "nothing skips")
			}
			for _, w := range tc.want {
				assert.Contains(t, string(out), w)
			}
			if slices.Contains(tc.goArgs, "-json") {
				junit := junitOf(t, goBin, root, out)
				for _, p := range []string{"simulated", "emulated", "host", "board", "platform"} {
					assert.Contains(t, junit, `<property name="hwtest.`+p+`" value="`)
				}
				assert.Contains(t, junit, `<property name="hwtest.simulated" value="true">`)
			}
		})
	}
}

// junitOf returns the JUnit report gotestsum (this module's tool) writes
// for the go test -json output events.
func junitOf(t *testing.T, goBin, root string, events []byte) string {
	dir := t.TempDir()
	in, xml := filepath.Join(dir, "events.json"), filepath.Join(dir, "junit.xml")
	require.NoError(t, os.WriteFile(in, events, 0o644))
	cmd := exec.CommandContext(t.Context(), goBin, "tool", "gotestsum", "--format", "dots", "--junitfile", xml, "--raw-command", "--", "cat", in)
	cmd.Dir = root
	cmd.Env = append(userEnv(t), "GOFLAGS=-mod=readonly")
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "%s", out)
	data, err := os.ReadFile(xml)
	require.NoError(t, err)
	return string(data)
}

// userEnv is the environment of a user's go test: this one, less the
// tinyprof settings and with the lab's directories and the user's config in
// t's temporary directory, offline, and free to complete the module's
// go.mod from the module cache.
func userEnv(t *testing.T) []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "TINYPROF_") && !strings.HasPrefix(kv, "GOFLAGS=") && !strings.HasPrefix(kv, "XDG_CONFIG_HOME=") {
			env = append(env, kv)
		}
	}
	tmp := t.TempDir()
	return append(env, "GOFLAGS=-mod=mod", "GOPROXY=off", "GOWORK=off",
		"XDG_CONFIG_HOME="+filepath.Join(tmp, "config"),
		EnvStateDir+"="+filepath.Join(tmp, "state"),
		EnvLeaseDir+"="+filepath.Join(tmp, "leases"))
}

// timeLeft bounds a child go test by t's deadline, less a margin to report.
func timeLeft(t *testing.T) time.Duration {
	if d, ok := t.Deadline(); ok {
		return time.Until(d) - cleanupMargin(time.Until(d))
	}
	return 5 * time.Minute
}
