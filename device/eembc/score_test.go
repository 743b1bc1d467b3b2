package eembc_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tinyprof/tinyprof/device/eembc"
	"github.com/tinyprof/tinyprof/device/eembc/eembcsim"
	"github.com/tinyprof/tinyprof/serialport"
)

// TestRunScoresAsMLPerfTiny drives a simulated DUT through the serial
// stack: five windows of at least ten seconds by the DUT's clock, median
// throughput, latency as its inverse.
func TestRunScoresAsMLPerfTiny(t *testing.T) {
	dut := eembcsim.Start(t, eembcsim.Options{InferenceUS: 16760, Chatty: true})
	port, err := serialport.Open(t.Context(), dut.Path, 115200)
	require.NoError(t, err)
	defer port.Close()
	c := eembc.New(port, eembc.Options{})
	defer c.Close()

	inputs := [][]byte{make([]byte, 490), make([]byte, 490)}
	inputs[1][0] = 1
	var progress []int
	s, err := eembc.Run(t.Context(), c, eembc.ScoreConfig{Inputs: inputs, Progress: func(done, _ int) { progress = append(progress, done) }})
	require.NoError(t, err)
	assert.True(t, s.Valid, "%v", s.Problems)
	assert.Equal(t, "tinyprof simulated", s.Name)
	assert.Equal(t, "kws01", s.Profile.Model)
	require.Len(t, s.Windows, 5)
	assert.Equal(t, []int{1, 2, 3, 4, 5}, progress)
	for _, w := range s.Windows {
		assert.GreaterOrEqual(t, w.ElapsedUS, uint64(10_000_000), "each window lasts 10 s by the DUT's clock")
		assert.Len(t, w.Results, 12)
	}
	assert.InDelta(t, 1e6/16760.0, s.MedianThroughput, 0.01)
	assert.InDelta(t, 16.76, s.LatencyMS, 0.001)
}

func TestRunFlagsRuleBreaks(t *testing.T) {
	dut := eembcsim.Start(t, eembcsim.Options{})
	port, err := serialport.Open(t.Context(), dut.Path, 115200)
	require.NoError(t, err)
	defer port.Close()
	c := eembc.New(port, eembc.Options{})
	defer c.Close()
	s, err := eembc.Run(t.Context(), c, eembc.ScoreConfig{Inputs: [][]byte{{1, 2, 3}}, Windows: 3})
	require.NoError(t, err)
	assert.False(t, s.Valid)
	assert.Contains(t, s.Problems, "3 windows; the rules require 5")
}

func TestRunOnASilentDUT(t *testing.T) {
	dut := eembcsim.Start(t, eembcsim.Options{Silent: true})
	port, err := serialport.Open(t.Context(), dut.Path, 115200)
	require.NoError(t, err)
	defer port.Close()
	c := eembc.New(port, eembc.Options{Timeout: 200 * time.Millisecond})
	defer c.Close()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	_, err = eembc.Run(ctx, c, eembc.ScoreConfig{Inputs: [][]byte{{1}}})
	require.ErrorIs(t, err, eembc.ErrNoReady)
	require.NoError(t, ctx.Err(), "fails on the command's own time-out")
}

func TestRunNeedsInputs(t *testing.T) {
	_, err := eembc.Run(t.Context(), nil, eembc.ScoreConfig{})
	require.ErrorContains(t, err, "no input tensors")
}
