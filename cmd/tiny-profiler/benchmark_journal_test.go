package main

import (
	"bytes"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tinyprof/tinyprof/journal"
)

// TestBenchmarkFeedsInferenceLatency: every benchmark journals its p95
// inter-token latency for the runbook's inference_latency_p95 threshold,
// labelled simulated, so an incident report sees benchmarks and not only
// health-check --comprehensive.
func TestBenchmarkFeedsInferenceLatency(t *testing.T) {
	state := t.TempDir()
	var stdout, stderr bytes.Buffer
	root := newRoot(&stdout, &stderr)
	root.SetArgs([]string{"--state-dir", state, "benchmark", "--sim", "esp32s3", "--runs", "2", "--tokens", "8"})
	require.NoError(t, root.ExecuteContext(t.Context()), stderr.String())

	j, err := journal.Open(filepath.Join(state, "journal"), journal.Options{})
	require.NoError(t, err)
	res, err := j.Read(t.Context(), journal.Query{Kinds: []journal.Kind{journal.KindInference}})
	require.NoError(t, err)
	require.Len(t, res.Events, 1, "one inference event for the benchmark")
	e := res.Events[0]
	p95, ok := e.Number("p95_ms")
	require.True(t, ok)
	assert.Positive(t, p95)
	assert.Equal(t, "benchmark", e.Details["source"])
	assert.Equal(t, true, e.Details["simulated"])
	assert.Equal(t, "sim:esp32s3", e.Board)
}
