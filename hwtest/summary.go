package hwtest

import (
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"

	"github.com/tinyprof/tinyprof/lab"
)

// tally counts, for the summary Main prints after the tests, the tests
// this process stopped for infrastructure and where failed tests' device
// logs went. Like the flags, it is state of the test process: one package
// run. A Lab counts here unless it has its own (see Lab.counts).
var tally runTally

type runTally struct {
	mu     sync.Mutex
	groups map[string][]string // "skipped|lease platform=…: no matching board …" → test names
	order  []string
	logs   map[string]int // log folder → logs written there
}

// infrastructure records that test was stopped for err, skipped or, with
// failed, failed.
func (t *runTally) infrastructure(test string, err error, failed bool) {
	verb := "skipped"
	if failed {
		verb = "failed"
	}
	key := verb + "|" + condition(err)
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.groups == nil {
		t.groups = map[string][]string{}
	}
	if _, ok := t.groups[key]; !ok {
		t.order = append(t.order, key)
	}
	t.groups[key] = append(t.groups[key], test)
}

// wroteLog records a failed test's device log written under dir.
func (t *runTally) wroteLog(dir string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.logs == nil {
		t.logs = map[string]int{}
	}
	t.logs[dir]++
}

// condition is the part of err that tests stopped for the same reason
// share: "lease platform=esp32s3: no matching board became free in time",
// without the waits and holders that differ from test to test.
func condition(err error) string {
	var le *lab.LeaseError
	if errors.As(err, &le) {
		return fmt.Sprintf("lease %s: %v", le.Want, le.Err)
	}
	s := err.Error()
	if r := []rune(s); len(r) > 120 {
		s = string(r[:120]) + "…"
	}
	return s
}

// WriteSummary writes what Main prints after the tests: one line with how
// many tests this process skipped (or, with -hwtest.fail-infra, failed)
// for infrastructure and why, and one naming the folder that holds failed
// tests' device logs. It writes nothing when there is nothing to say. A
// TestMain that cannot call Main calls it after m.Run:
//
//	code := m.Run()
//	hwtest.WriteSummary(os.Stdout)
//	os.Exit(code)
//
// go test shows a passing package's output only with -v (or -json, as
// gotestsum reads it); a failing package's always.
func WriteSummary(w io.Writer) { tally.write(w) }

func (t *runTally) write(w io.Writer) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, verb := range []string{"skipped", "failed"} {
		var n int
		var parts []string
		for _, key := range t.order {
			v, cond, _ := strings.Cut(key, "|")
			if v != verb {
				continue
			}
			tests := t.groups[key]
			n += len(tests)
			parts = append(parts, fmt.Sprintf("%d %s (%s)", len(tests), cond, nameSome(tests)))
		}
		if n > 0 {
			fmt.Fprintf(w, "hwtest: %s %s for infrastructure: %s\n", plural(n, "test"), verb, strings.Join(parts, "; "))
		}
	}
	dirs := make([]string, 0, len(t.logs))
	for d := range t.logs {
		dirs = append(dirs, d)
	}
	slices.Sort(dirs)
	for _, d := range dirs {
		fmt.Fprintf(w, "hwtest: device logs of %s of failed tests are in %s\n", plural(t.logs[d], "board"), d)
	}
}

// nameSome lists up to three test names, and how many more there are.
func nameSome(tests []string) string {
	const show = 3
	if len(tests) <= show {
		return strings.Join(tests, ", ")
	}
	return strings.Join(tests[:show], ", ") + fmt.Sprintf(" and %d more", len(tests)-show)
}

func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}
