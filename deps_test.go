package tinyprof_test

import (
	"bufio"
	"bytes"
	"fmt"
	"os/exec"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const module = "github.com/tinyprof/tinyprof"

// depRule forbids every package matching From to depend, directly or
// through others, on a package matching one of Not. A pattern ending in
// "/..." matches the path and everything under it; otherwise it matches
// exactly. Patterns without a dot in their first element are tinyprof's.
type depRule struct {
	From string
	Not  []string
	Why  string
}

// depRules is the dependency direction doc.go and the README state:
// bench → hwtest → device → firmware, with catalogues, file formats and the
// runbook's vocabulary as leaves. A wrong edge fails TestDependencyDirection.
var depRules = []depRule{
	{"firmware", []string{"..."}, "the wire protocol is a leaf: it imports only the standard library"},
	{"platform", []string{"..."}, "the platform catalogue is a leaf"},
	{"runbook", []string{"..."}, "the runbook's vocabulary is a leaf"},
	{"serialport/...", []string{"firmware/...", "device/...", "power/...", "platform", "model/...", "hwtest/...", "lab/...", "bench/..."}, "the serial port is a leaf the board client and the meter drivers share"},
	{"model", []string{"firmware/...", "device/...", "power/...", "hwtest/...", "lab/...", "bench/...", "journal", "monitor"}, "model files are a leaf: analysis needs no board"},
	{"platform/cost", []string{"firmware/...", "device/...", "power/...", "hwtest/...", "lab/...", "bench/...", "cmd/...", "plan", "journal", "monitor"},
		"the cost model reads only the catalogue and model files, so the simulated board and the planner can share it"},
	{"plan", []string{"firmware/...", "device/...", "hwtest/...", "lab/...", "bench/...", "cmd/..."}, "the planner needs no board"},
	{"power", []string{"firmware/...", "device/...", "serialport", "platform", "hwtest/...", "lab/...", "bench/..."}, "power's units and energy maths are a leaf"},
	{"firmware/...", []string{"device/...", "hwtest/...", "lab/...", "bench/...", "cmd/..."}, "firmware is below device"},
	{"device/...", []string{"hwtest/...", "lab/...", "bench/...", "cmd/..."}, "device is below hwtest"},
	{"device/sim", []string{"power/ppk2", "power/lpm01a", "power/powersim"}, "a simulated board produces a power.Waveform; it does not need the meters"},
	{"power/ppk2", []string{"device/..."}, "a meter driver opens its port through serialport, not the board client"},
	{"power/lpm01a", []string{"device/..."}, "a meter driver opens its port through serialport, not the board client"},
	{"power/meters", []string{"device/...", "lab/...", "hwtest/..."}, "the meter registry knows meters, not boards"},
	{"hwtest/...", []string{"bench/...", "cmd/..."}, "hwtest is below bench"},
	{"lab/...", []string{"hwtest/...", "bench/...", "cmd/..."}, "the lab serves hwtest and the CLI"},
	{"bench", []string{"hwtest/...", "lab/...", "bench/report", "bench/compare", "bench/chart"}, "bench is the go test API: it needs no lab and no CLI report"},
	{"bench", []string{"gonum.org/v1/plot/...", "codeberg.org/go-pdf/...", "codeberg.org/go-latex/...", "codeberg.org/go-fonts/...", "github.com/golang/freetype/...", "golang.org/x/image/font/..."},
		"a user's benchmark binary must not link plotting, PDF or font packages"},
}

// TestDependencyDirection checks depRules against the real import graph,
// with and without the hardware build tag.
func TestDependencyDirection(t *testing.T) {
	for _, tags := range []string{"", "hardware"} {
		t.Run("tags="+tags, func(t *testing.T) {
			g := loadGraph(t, tags)
			require.Contains(t, g, module+"/bench", "go list saw the module")
			for _, err := range checkDeps(g, depRules) {
				t.Error(err)
			}
		})
	}
}

// TestDependencyRulesCatchWrongEdge: the checker reports an edge that a rule
// forbids, also when it is indirect, and names the path.
func TestDependencyRulesCatchWrongEdge(t *testing.T) {
	g := graph{
		module + "/bench":      {module + "/monitor"},
		module + "/monitor":    {module + "/hwtest"},
		module + "/hwtest":     {module + "/device"},
		module + "/device":     {module + "/firmware", "fmt"},
		module + "/firmware":   {"fmt"},
		module + "/power/ppk2": {module + "/device"},
		"fmt":                  nil,
	}
	errs := checkDeps(g, depRules)
	var msgs []string
	for _, e := range errs {
		msgs = append(msgs, e.Error())
	}
	assert.Len(t, errs, 2, "%s", strings.Join(msgs, "\n"))
	joined := strings.Join(msgs, "\n")
	assert.Contains(t, joined, "bench depends on hwtest (bench → monitor → hwtest)")
	assert.Contains(t, joined, "power/ppk2 depends on device")
	assert.Empty(t, checkDeps(graph{module + "/firmware": {"fmt"}, "fmt": nil}, depRules))
}

// graph maps an import path to the paths it imports directly.
type graph map[string][]string

func loadGraph(t *testing.T, tags string) graph {
	t.Helper()
	args := []string{"list", "-deps", "-f", "{{.ImportPath}}\t{{join .Imports \" \"}}"}
	if tags != "" {
		args = append(args, "-tags="+tags)
	}
	cmd := exec.CommandContext(t.Context(), "go", append(args, "./...")...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	require.NoError(t, err, "go list: %s", stderr.String())
	g := graph{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		path, imports, _ := strings.Cut(sc.Text(), "\t")
		g[path] = strings.Fields(imports)
	}
	require.NoError(t, sc.Err())
	return g
}

// checkDeps returns one error per rule, package and forbidden pattern,
// naming the nearest forbidden dependency and the chain that reaches it.
func checkDeps(g graph, rules []depRule) []error {
	var errs []error
	for _, r := range rules {
		for _, from := range sortedKeys(g) {
			if !matches(r.From, from) {
				continue
			}
			deps := reach(g, from)
			for _, not := range r.Not {
				// The nearest offender per pattern is enough to act on.
				for _, dep := range deps {
					if matches(not, dep.path) {
						errs = append(errs, fmt.Errorf("%s depends on %s (%s): %s", short(from), short(dep.path), dep.via(), r.Why))
						break
					}
				}
			}
		}
	}
	return errs
}

// matches reports whether path matches pattern; "..." alone matches every
// tinyprof package.
func matches(pattern, path string) bool {
	if pattern == "..." {
		return strings.HasPrefix(path, module+"/") || path == module
	}
	full := pattern
	if first, _, _ := strings.Cut(pattern, "/"); !strings.Contains(first, ".") {
		full = module + "/" + pattern
	}
	if base, ok := strings.CutSuffix(full, "/..."); ok {
		return path == base || strings.HasPrefix(path, base+"/")
	}
	return path == full
}

type reached struct {
	path  string
	chain []string
}

func (r reached) via() string {
	var s []string
	for _, p := range r.chain {
		s = append(s, short(p))
	}
	return strings.Join(s, " → ")
}

// reach lists what from depends on, each with one import chain to it.
func reach(g graph, from string) []reached {
	seen := map[string]bool{from: true}
	queue := []reached{{from, []string{from}}}
	var out []reached
	for len(queue) > 0 {
		r := queue[0]
		queue = queue[1:]
		for _, next := range g[r.path] {
			if seen[next] {
				continue
			}
			seen[next] = true
			n := reached{next, append(slices.Clone(r.chain), next)}
			out = append(out, n)
			queue = append(queue, n)
		}
	}
	return out
}

func short(path string) string { return strings.TrimPrefix(path, module+"/") }

func sortedKeys(g graph) []string {
	keys := make([]string, 0, len(g))
	for k := range g {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
