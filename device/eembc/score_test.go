package eembc_test

import (
	"context"
	"encoding/json"
	"fmt"
	"regexp"
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

	var progress []int
	s, err := eembc.Run(t.Context(), c, eembc.ScoreConfig{Inputs: inputs(5, 490), Progress: func(done, _ int) { progress = append(progress, done) }})
	require.NoError(t, err)
	assert.True(t, s.Valid, "%v", s.Problems)
	assert.Empty(t, s.Resizes)
	assert.Equal(t, 10, s.Warmup, "kws01's warm-up in the reference")
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

// inputs returns n different input tensors of size bytes.
func inputs(n, size int) [][]byte {
	out := make([][]byte, n)
	for i := range out {
		out[i] = make([]byte, size)
		out[i][0] = byte(i)
	}
	return out
}

// dutClient starts a simulated DUT and returns a client on its port.
func dutClient(t *testing.T, so eembcsim.Options, opts eembc.Options) *eembc.Client {
	t.Helper()
	dut := eembcsim.Start(t, so)
	port, err := serialport.Open(t.Context(), dut.Path, 115200)
	require.NoError(t, err)
	c := eembc.New(port, opts)
	t.Cleanup(func() {
		c.Close()
		port.Close()
	})
	return c
}

// TestRunResizesAfterSlowStart is a DUT whose first 40 inferences run five
// times slower than it settles to: N sized from the probe leaves every
// window short, so Run sizes N again from the short window and runs the
// windows again, as the reference runner does, until they last 10 s.
func TestRunResizesAfterSlowStart(t *testing.T) {
	c := dutClient(t, eembcsim.Options{InferenceUS: 16760, ColdInferences: 40, ColdUS: 5 * 16760}, eembc.Options{})
	s, err := eembc.Run(t.Context(), c, eembc.ScoreConfig{Inputs: inputs(5, 490)})
	require.NoError(t, err)
	assert.True(t, s.Valid, "%v", s.Problems)
	require.NotEmpty(t, s.Resizes)
	assert.Contains(t, s.Resizes[0], "window 1 ran ")
	assert.Contains(t, s.Resizes[0], "under the 10s minimum: sized again to infer ")
	require.Len(t, s.Windows, 5)
	for _, w := range s.Windows {
		assert.GreaterOrEqual(t, w.ElapsedUS, uint64(10_000_000))
		assert.Equal(t, s.N, w.N, "every window runs the same infer N W")
	}
	assert.InDelta(t, 1e6/16760.0, s.MedianThroughput, 0.01, "the settled pace")
}

// TestRunRetriesFirstCommand is a DUT with bytes left in its command
// buffer (another protocol's frame): the first name% fails as an unknown
// command, and Run tries again, as the reference runner does.
func TestRunRetriesFirstCommand(t *testing.T) {
	c := dutClient(t, eembcsim.Options{Leftover: "\x7eTP\x01"}, eembc.Options{})
	s, err := eembc.Run(t.Context(), c, eembc.ScoreConfig{Inputs: inputs(5, 490)})
	require.NoError(t, err)
	assert.Equal(t, "tinyprof simulated", s.Name)
	assert.True(t, s.Valid, "%v", s.Problems)
	require.Len(t, s.Notes, 1)
	assert.Contains(t, s.Notes[0], "name: attempt 1 failed (eembc: name: DUT error: Unknown command: \x7eTP\x01name), tried again")

	// A DUT that never answers name% is tried 3 times, no more.
	c = dutClient(t, eembcsim.Options{Silent: true}, eembc.Options{Timeout: 50 * time.Millisecond})
	_, err = eembc.Run(t.Context(), c, eembc.ScoreConfig{Inputs: inputs(5, 490)})
	require.ErrorIs(t, err, eembc.ErrNoReady)
}

// TestRunMarksRuleBreaks checks that each way a run leaves the rules is
// measured but makes the run invalid, saying why.
func TestRunMarksRuleBreaks(t *testing.T) {
	tests := []struct {
		name string
		dut  eembcsim.Options
		cfg  eembc.ScoreConfig
		want []string
	}{
		{"rules", eembcsim.Options{}, eembc.ScoreConfig{Inputs: inputs(5, 490)}, nil},
		{"short windows", eembcsim.Options{}, eembc.ScoreConfig{Inputs: inputs(5, 490), MinWindow: time.Second},
			[]string{"windows of at least 1s; the rules require at least 10s"}},
		{"three windows", eembcsim.Options{}, eembc.ScoreConfig{Inputs: inputs(5, 490), Windows: 3},
			[]string{"3 windows; the rules require 5"}},
		{"seven windows, three inputs", eembcsim.Options{}, eembc.ScoreConfig{Inputs: inputs(3, 490), Windows: 7},
			[]string{"7 windows; the rules require 5", "3 different inputs; the rules run 5"}},
		{"one input", eembcsim.Options{}, eembc.ScoreConfig{Inputs: inputs(1, 490)},
			[]string{"1 different input; the rules run 5"}},
		{"wrong input size", eembcsim.Options{}, eembc.ScoreConfig{Inputs: inputs(5, 100)}, []string{
			"input 1 is 100 bytes; kws01 takes 490",
			`the probe: the DUT refused its input: "Input db has 100 elemented, expected 490"`,
			`window 1: the DUT refused its input: "Input db has 100 elemented, expected 490"`}},
		{"a DUT built for other inputs", eembcsim.Options{InputSize: 500}, eembc.ScoreConfig{Inputs: inputs(5, 490)}, []string{
			`the probe: the DUT refused its input: "Input db has 490 elemented, expected 500"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := dutClient(t, tt.dut, eembc.Options{})
			s, err := eembc.Run(t.Context(), c, tt.cfg)
			require.NoError(t, err)
			assert.Equal(t, tt.want == nil, s.Valid, "%v", s.Problems)
			for _, w := range tt.want {
				assert.Contains(t, s.Problems, w)
			}
			assert.Positive(t, s.MedianThroughput, "measured all the same")
		})
	}
}

// TestRunScalesTimeoutsFromTheProbe is a DUT at 3.5 s per inference, on a
// clock 500 times faster than real (7 ms by the host's clock), given the
// fixed infer time-out scaled alike (60 s / 500): a window of 10 inferences
// after 10 warm-ups takes 140 ms, past it. Run scales the windows' time-outs
// from the first inference instead, and completes.
func TestRunScalesTimeoutsFromTheProbe(t *testing.T) {
	c := dutClient(t, eembcsim.Options{InferenceUS: 3_500_000, RealTime: 1.0 / 500}, eembc.Options{InferTimeout: 120 * time.Millisecond})
	s, err := eembc.Run(t.Context(), c, eembc.ScoreConfig{Inputs: inputs(5, 490)})
	require.NoError(t, err)
	assert.True(t, s.Valid, "%v", s.Problems)
	assert.Equal(t, 10, s.N, "3 inferences make 10.5 s; at least 10")
	assert.InDelta(t, 1/3.5, s.MedianThroughput, 1e-9)
}

// TestRunExplainsAHang is a DUT that hangs in its first window, after
// answering the probe: the error says so, rather than blame the port.
func TestRunExplainsAHang(t *testing.T) {
	c := dutClient(t, eembcsim.Options{InferenceUS: 100, HangAt: 3}, eembc.Options{Timeout: 200 * time.Millisecond})
	_, err := eembc.Run(t.Context(), c, eembc.ScoreConfig{Inputs: inputs(5, 490), MinWindow: 20 * time.Millisecond})
	require.ErrorIs(t, err, eembc.ErrNoReady)
	assert.ErrorContains(t, err, "window 1: eembc: infer 210 10: the reply began (m-warmup-start-10) but did not end with m-ready within ")
	assert.Regexp(t, `the DUT is still busy or hung; it had answered the probe at [0-9.]+[µm]s per inference, so 220 inferences should have taken [0-9.]+m?s: it hung or slowed down mid-run`, err.Error())
	assert.NotContains(t, err.Error(), "check the port")
}

// TestRunWarmsUpAsTheReference checks the warm-up of each model: 5 for
// ic01 and vww01, 10 for kws01 and ad01, the firmware's default for one
// the reference does not time so, and none when asked for none.
func TestRunWarmsUpAsTheReference(t *testing.T) {
	tests := []struct {
		model  string
		size   int
		warmup int // ScoreConfig.Warmup
		want   int
	}{
		{"ic01", 3072, 0, 5},
		{"vww01", 27648, 0, 5},
		{"kws01", 490, 0, 10},
		{"ad01", 2560, 0, 10},
		{"strww01", 490, 0, 10},
		{"ic01", 3072, -1, 0},
		{"ic01", 3072, 7, 7},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%s/%d", tt.model, tt.warmup), func(t *testing.T) {
			c := dutClient(t, eembcsim.Options{Model: tt.model, InferenceUS: 1000}, eembc.Options{})
			s, err := eembc.Run(t.Context(), c, eembc.ScoreConfig{Inputs: inputs(1, tt.size), Windows: 1, Warmup: tt.warmup})
			require.NoError(t, err)
			assert.Equal(t, tt.want, s.Warmup)
			require.Len(t, s.Windows, 1)
			assert.Equal(t, tt.want, s.Windows[0].Warmup, "sent with every infer")
			for _, p := range s.Problems {
				assert.NotContains(t, p, "refused its input", "the reference's input size for %s", tt.model)
			}
		})
	}
}

// TestScoreJSONIsSnakeCase checks every key of a score's JSON is
// snake_case, as the rest of the CLI's JSON.
func TestScoreJSONIsSnakeCase(t *testing.T) {
	c := dutClient(t, eembcsim.Options{Chatty: true}, eembc.Options{})
	s, err := eembc.Run(t.Context(), c, eembc.ScoreConfig{Inputs: inputs(5, 490), Windows: 1})
	require.NoError(t, err)
	b, err := json.Marshal(s)
	require.NoError(t, err)
	var v any
	require.NoError(t, json.Unmarshal(b, &v))
	snake := regexp.MustCompile(`^[a-z][a-z0-9]*(_[a-z0-9]+)*$`)
	var walk func(v any)
	keys := 0
	walk = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			for k, x := range v {
				keys++
				assert.Regexp(t, snake, k)
				walk(x)
			}
		case []any:
			for _, x := range v {
				walk(x)
			}
		}
	}
	walk(v)
	assert.Greater(t, keys, 15, "%s", b)
	assert.Contains(t, string(b), `"profile":{"firmware":"ULPMark for tinyML Firmware V0.0.1","model":"kws01"}`)
	assert.Contains(t, string(b), `"elapsed_us":`)
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
