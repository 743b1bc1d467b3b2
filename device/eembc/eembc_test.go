package eembc_test

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.bug.st/serial"
	"go.uber.org/goleak"

	"github.com/tinyprof/tinyprof/device/eembc"
	"github.com/tinyprof/tinyprof/device/eembc/eembcsim"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// startDUT starts a simulated DUT behind a pty and returns a client that
// opens the pty's slave with go.bug.st/serial, as it would a real board:
// kws01 at 16,760 µs per inference, like the NUCLEO-H7A3ZI-Q.
func startDUT(t *testing.T, o eembcsim.Options, opts eembc.Options) *eembc.Client {
	t.Helper()
	o.Vendor, o.FixedResults = "tinyprof sim", []float64{0, 0.998, 0.002}
	if o.ClockStart == 0 {
		o.ClockStart = 22037117
	}
	d := eembcsim.Start(t, o)
	port, err := serial.Open(d.Path, &serial.Mode{BaudRate: 115200})
	require.NoError(t, err)
	c := eembc.New(port, opts)
	t.Cleanup(func() {
		_ = c.Close()
		_ = port.Close()
	})
	return c
}

func TestSession(t *testing.T) {
	for _, f := range []eembcsim.Options{{}, {Chatty: true}} {
		t.Run(fmt.Sprintf("chatty=%v", f.Chatty), func(t *testing.T) {
			c := startDUT(t, f, eembc.Options{})
			ctx := t.Context()
			name, err := c.Name(ctx)
			require.NoError(t, err)
			assert.Equal(t, "tinyprof sim", name)

			p, err := c.Profile(ctx)
			require.NoError(t, err)
			assert.Equal(t, eembc.Profile{Firmware: "ULPMark for tinyML Firmware V0.0.1", Model: "kws01"}, p)

			input := bytes.Repeat([]byte{0x00, 0x7F, 0xFF, 0x10, 0x20}, 98) // 490 bytes, as kws01
			require.NoError(t, c.Load(ctx, input))

			in, err := c.Infer(ctx, 800, 1)
			require.NoError(t, err)
			want := eembc.Inference{N: 800, Warmup: 1, ElapsedUS: 800 * 16760, Results: []float64{0, 0.998, 0.002}}
			if f.Chatty {
				want.Messages = []string{"[dbg] rx 11 bytes"} // the DUT's debug output is kept
			}
			if diff := cmp.Diff(want, in); diff != "" {
				t.Errorf("Infer (-want +got):\n%s", diff)
			}
			assert.InDelta(t, 59.666, in.Throughput(), 0.001)

			res, err := c.Results(ctx)
			require.NoError(t, err)
			assert.Equal(t, []float64{0, 0.998, 0.002}, res)

			if f.Chatty {
				return // a stale m-ready ends a reply to Command, which expects no particular line
			}
			var dutErr *eembc.DUTError
			_, err = c.Command(ctx, "bogus")
			require.ErrorAs(t, err, &dutErr)
			assert.Equal(t, "Unknown command: bogus", dutErr.Text)
		})
	}
}

func TestMalformedReplies(t *testing.T) {
	tests := []struct {
		name   string
		faults eembcsim.Options
		want   string
	}{
		{"one timestamp", eembcsim.Options{OneLap: true}, "1 m-lap-us lines, want 2"},
		{"bad results", eembcsim.Options{BadResults: true}, "malformed results line"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := startDUT(t, tt.faults, eembc.Options{})
			_, err := c.Infer(t.Context(), 10, 0)
			require.ErrorContains(t, err, tt.want)
		})
	}
}

func TestTimerWrap(t *testing.T) {
	c := startDUT(t, eembcsim.Options{ClockStart: 1<<32 - 1000}, eembc.Options{})
	in, err := c.Infer(t.Context(), 10, 0)
	require.NoError(t, err)
	assert.Equal(t, uint64(10*16760), in.ElapsedUS)
}

func TestSilentBoard(t *testing.T) {
	c := startDUT(t, eembcsim.Options{Silent: true}, eembc.Options{Timeout: 100 * time.Millisecond, InferTimeout: 100 * time.Millisecond})
	_, err := c.Name(t.Context())
	require.ErrorIs(t, err, eembc.ErrNoReady)
	_, err = c.Infer(t.Context(), 1, 0)
	require.ErrorIs(t, err, eembc.ErrNoReady)
}

func TestCommandTooLong(t *testing.T) {
	c := startDUT(t, eembcsim.Options{}, eembc.Options{})
	_, err := c.Command(t.Context(), strings.Repeat("x", eembc.MaxCommand))
	require.Error(t, err)
}

func TestMedianThroughput(t *testing.T) {
	w := func(us uint64) eembc.Inference { return eembc.Inference{N: 800, ElapsedUS: us} }
	got := eembc.MedianThroughput([]eembc.Inference{w(13_407_640), w(10_000_000), w(20_000_000), w(13_000_000), w(14_000_000)})
	assert.InDelta(t, 800/13.407640, got, 1e-9)
	assert.Zero(t, eembc.MedianThroughput(nil))
}
