package runtime

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/tinyprof/tinyprof/internal/ctest"
)

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "tinyprof-runtime")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	builds.dir = dir
	defer os.RemoveAll(dir)
	goleak.VerifyTestMain(m)
}

// builds caches the programs tests build, one compile per process: the
// sanitizer builds take a second or two each. TestMain removes dir.
var builds struct {
	sync.Mutex
	dir  string
	bins map[string]string
}

// runtimeSrcs are the runtime's C sources, relative to this directory.
var runtimeSrcs = []string{"tp_rt_load.c", "tp_rt_forward.c", "tp_rt_sample.c", "tp_rt_math.c"}

// cflags are the flags the runtime's determinism depends on (README.md):
// no contraction into fused multiply-adds, and a warning for any double.
var cflags = []string{"-std=c99", "-Wall", "-Wextra", "-Werror", "-Wdouble-promotion", "-ffp-contract=off", "-I."}

// compiler returns the system C compiler, or skips tb.
func compiler(tb testing.TB) string { return ctest.Compiler(tb, "the C runtime") }

// sanitizers reports whether cc links programs with ASan and UBSan.
var sanitizers = ctest.Sanitizers

// build compiles srcs with cflags and extra into a program (once per test
// process); with sanitize, under ASan and UBSan when cc has them.
func build(tb testing.TB, name string, sanitize bool, srcs []string, extra ...string) string {
	tb.Helper()
	cc := compiler(tb)
	builds.Lock()
	defer builds.Unlock()
	key := fmt.Sprint(name, sanitize, srcs, extra)
	if p, ok := builds.bins[key]; ok {
		return p
	}
	if builds.bins == nil {
		builds.bins = map[string]string{}
	}
	out := filepath.Join(builds.dir, fmt.Sprintf("%s-%d", name, len(builds.bins)))
	args := append(append([]string{}, cflags...), extra...)
	if sanitize && sanitizers() {
		args = append(args, "-fsanitize=address,undefined", "-fno-sanitize-recover=undefined", "-fno-omit-frame-pointer")
	}
	args = append(args, srcs...)
	msg, err := exec.CommandContext(tb.Context(), cc, append(args, "-o", out)...).CombinedOutput()
	require.NoError(tb, err, "%s %s:\n%s", cc, strings.Join(args, " "), msg)
	builds.bins[key] = out
	return out
}

// buildDriver builds host/main.c with the runtime at optimisation opt.
func buildDriver(tb testing.TB, opt string, sanitize bool) string {
	tb.Helper()
	return build(tb, "rt-host"+opt, sanitize, append([]string{"host/main.c"}, runtimeSrcs...), opt, "-g")
}

// run is the parsed output of "rt-host run".
type run struct {
	load, start      int
	ctx, kv, params  int
	used, promptToks int
	peak             int
	tokens           []uint32
	logits           [][]uint32 // float32 bit patterns per step
}

// request is one "rt-host run" invocation.
type request struct {
	file              string
	arena, ctx, steps int
	temp, topP, topK  int // permille, permille, count
	seed              uint32
	prompt            []byte
	logits            bool
}

func (q request) args() []string {
	p := "-"
	if len(q.prompt) > 0 {
		p = hex.EncodeToString(q.prompt)
	}
	a := []string{"run", q.file, strconv.Itoa(q.arena), strconv.Itoa(q.ctx), strconv.Itoa(q.steps),
		strconv.Itoa(q.temp), strconv.Itoa(q.topP), strconv.Itoa(q.topK), strconv.FormatUint(uint64(q.seed), 10), p}
	if q.logits {
		a = append(a, "logits")
	}
	return a
}

// drive runs the driver bin on q and parses what it prints.
func drive(tb testing.TB, bin string, q request) run {
	tb.Helper()
	var stderr bytes.Buffer
	cmd := exec.CommandContext(tb.Context(), bin, q.args()...)
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	require.NoError(tb, err, "%s %v: %s", bin, q.args(), stderr.Bytes())
	r := run{load: -1, start: -1}
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(nil, 1<<24)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) == 0 {
			continue
		}
		num := func(i int) int {
			v, err := strconv.Atoi(f[i])
			require.NoError(tb, err, "line %q", sc.Text())
			return v
		}
		switch f[0] {
		case "load":
			r.load = num(1)
			if r.load == 0 {
				r.ctx, r.kv, r.params, r.used = num(3), num(5), num(7), num(9)
			}
		case "start":
			r.start, r.promptToks, r.peak = num(1), num(3), num(5)
		case "tok":
			r.tokens = append(r.tokens, uint32(num(1)))
		case "logits":
			row := make([]uint32, len(f)-1)
			for i, h := range f[1:] {
				v, err := strconv.ParseUint(h, 16, 32)
				require.NoError(tb, err)
				row[i] = uint32(v)
			}
			r.logits = append(r.logits, row)
		case "end":
			r.peak = num(3)
		}
	}
	return r
}

// bits returns the float32 bit patterns of x.
func bits(x []float32) []uint32 {
	out := make([]uint32, len(x))
	for i, v := range x {
		out[i] = math.Float32bits(v)
	}
	return out
}

// logitDiff describes how far two steps' logits are apart: exact is the
// count of differing values, and the largest absolute difference.
func logitDiff(want, got []uint32) string {
	if len(want) != len(got) {
		return fmt.Sprintf("%d logits, want %d", len(got), len(want))
	}
	n, worst := 0, 0.0
	for i := range want {
		if want[i] != got[i] {
			n++
			worst = max(worst, math.Abs(float64(math.Float32frombits(want[i])-math.Float32frombits(got[i]))))
		}
	}
	if n == 0 {
		return ""
	}
	return fmt.Sprintf("%d of %d logits differ, by up to %g", n, len(want), worst)
}
