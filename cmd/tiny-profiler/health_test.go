package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestHealthCheckSeconds: each check's seconds in health-check --json is
// the time it took: more than nothing, and no more than the whole
// command's own time measured around it (no timed bound that could flake).
func TestHealthCheckSeconds(t *testing.T) {
	dir := t.TempDir()
	inv := filepath.Join(dir, "lab.yaml")
	require.NoError(t, os.WriteFile(inv, []byte("boards:\n  - id: sim-a\n    platform: esp32s3\n    sim: true\n  - id: sim-b\n    platform: rp2040\n    sim: true\n"), 0o644))
	var stdout, stderr bytes.Buffer
	root := newRoot(&stdout, &stderr)
	root.SetArgs([]string{"--state-dir", filepath.Join(dir, "state"), "health-check", "--json", "--inventory", inv})
	start := time.Now()
	require.NoError(t, root.ExecuteContext(t.Context()), stderr.String())
	whole := time.Since(start).Seconds()

	var results []struct {
		ID      string  `json:"id"`
		Verdict string  `json:"verdict"`
		Seconds float64 `json:"seconds"`
	}
	require.NoError(t, json.Unmarshal(stdout.Bytes(), &results), stdout.String())
	require.Len(t, results, 2)
	sum := 0.0
	for _, r := range results {
		assert.Equal(t, "good", r.Verdict, r.ID)
		assert.Positive(t, r.Seconds, "%s: the check took some time", r.ID)
		sum += r.Seconds
	}
	assert.LessOrEqual(t, sum, whole, "the checks ran one after another within the command")
}
