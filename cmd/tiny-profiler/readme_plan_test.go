package main

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/stretchr/testify/require"

	"github.com/tinyprof/tinyprof/fixtures"
)

var updatePlans = flag.Bool("update-plans", false, "rewrite the README's plan outputs")

const (
	planBegin = "<!-- plan outputs: go test ./cmd/tiny-profiler -run TestReadmePlanOutputs -update-plans -->\n"
	planEnd   = "<!-- end of plan outputs -->\n"
)

// TestReadmePlanOutputs runs the plan commands the README shows, on the
// stories260K and stories15M shapes and five boards, and requires the
// README to show what they print now: the placement model and the cost
// model both change these figures, and a stale copy would mislead.
func TestReadmePlanOutputs(t *testing.T) {
	dir := t.TempDir()
	files := map[string]fixtures.Llama2CConfig{"stories260K.bin": fixtures.Stories260K, "stories15M.bin": fixtures.Stories15M}
	for name, cfg := range files {
		require.NoError(t, os.WriteFile(filepath.Join(dir, name), fixtures.Llama2C(cfg, fixtures.Seed), 0o644))
	}
	var b strings.Builder
	b.WriteString(planBegin + "```\n")
	for i, name := range []string{"stories260K.bin", "stories15M.bin"} {
		for j, p := range []string{"esp32s3", "esp32p4", "rp2350", "stm32h7", "imxrt1176"} {
			if i+j > 0 {
				b.WriteString("\n")
			}
			args := []string{"plan", name, "--platform", p, "--top", "3"}
			var out bytes.Buffer
			run(append(args[:1:1], append([]string{filepath.Join(dir, name)}, args[2:]...)...), &out, &out)
			b.WriteString("$ tiny-profiler " + strings.Join(args, " ") + "\n")
			b.WriteString(strings.ReplaceAll(out.String(), dir+string(filepath.Separator), ""))
		}
	}
	b.WriteString("```\n" + planEnd)
	got := b.String()

	raw, err := os.ReadFile("../../README.md")
	require.NoError(t, err)
	readme := string(raw)
	i, j := strings.Index(readme, planBegin), strings.Index(readme, planEnd)
	require.True(t, i >= 0 && j > i, "README.md lacks the plan output markers")
	if *updatePlans {
		readme = readme[:i] + got + readme[j+len(planEnd):]
		require.NoError(t, os.WriteFile("../../README.md", []byte(readme), 0o644))
		return
	}
	if diff := cmp.Diff(readme[i:j+len(planEnd)], got); diff != "" {
		t.Errorf("README plan outputs are stale; run go test ./cmd/tiny-profiler -run TestReadmePlanOutputs -update-plans (-want +got):\n%s", diff)
	}
}
