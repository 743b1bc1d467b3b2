package device_test

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tinyprof/tinyprof/device"
	"github.com/tinyprof/tinyprof/device/sim"
	"github.com/tinyprof/tinyprof/serialport"
)

// fast keeps fault tests quick: a short per-attempt timeout.
var fast = device.Options{Timeout: 300 * time.Millisecond}

// TestFaults checks that every fault the simulator can inject ends in its
// typed error, or in a transparent recovery, before the context's deadline.
func TestFaults(t *testing.T) {
	type step func(ctx context.Context, d *device.Device) error
	ping := func(ctx context.Context, d *device.Device) error { _, err := d.Ping(ctx, []byte("x")); return err }
	load := func(ctx context.Context, d *device.Device) error {
		_, err := d.LoadModel(ctx, bytes.NewReader(tiny), int64(len(tiny)), device.LoadOptions{})
		return err
	}
	gen := func(ctx context.Context, d *device.Device) error {
		if err := load(ctx, d); err != nil {
			return err
		}
		g, err := d.Generate(ctx, device.GenerateRequest{Prompt: "hi", MaxTokens: 64})
		if err == nil && len(g.Tokens) != 64 {
			t.Errorf("recovered generation has %d tokens", len(g.Tokens))
		}
		return err
	}
	// Short generations back to back: a corrupted batch near the end of
	// one gets the CANCEL an ERROR(BAD_REQUEST), which arrives after the
	// retry has begun and must not be taken for its answer.
	gens := func(ctx context.Context, d *device.Device) error {
		if err := load(ctx, d); err != nil {
			return err
		}
		for i := range 8 {
			g, err := d.Generate(ctx, device.GenerateRequest{MaxTokens: 16, Seed: uint32(i)})
			if err != nil {
				return fmt.Errorf("generation %d: %w", i, err)
			}
			if len(g.Tokens) != 16 {
				t.Errorf("generation %d has %d tokens", i, len(g.Tokens))
			}
		}
		return nil
	}
	tests := []struct {
		name   string
		faults sim.Faults
		run    step
		want   error // nil: the client recovers
	}{
		{"corrupted answers are retried", sim.Faults{CorruptTxEvery: 3}, ping, nil},
		{"corrupted requests are retried", sim.Faults{CorruptRxEvery: 3}, ping, nil},
		{"line noise toward the board", sim.Faults{FlipRxByteEvery: 23}, ping, nil},
		{"upload through line noise", sim.Faults{FlipRxByteEvery: 3001}, load, nil},
		{"dropped answers are retried", sim.Faults{DropTxEvery: 3}, ping, nil},
		{"corruption beyond the budget", sim.Faults{CorruptTxEvery: 1}, ping, device.ErrCRC},
		{"upload survives lost chunks", sim.Faults{DropRxEvery: 50}, load, nil},
		{"upload survives corrupted chunks", sim.Faults{CorruptRxEvery: 40}, load, nil},
		{"upload survives lost acks", sim.Faults{DropTxEvery: 60}, load, nil},
		{"generation survives corrupted batches", sim.Faults{CorruptTxEvery: 1200}, gen, nil},
		// Five generations stream for seconds: a loaded host can hold
		// the board's goroutine past 300 ms between two frames, which is
		// silence to the client, not the lost answer this case is about.
		{"retried generations ignore late answers", sim.Faults{CorruptTxEvery: 23}, gens, nil},
		{"disconnect", sim.Faults{DisconnectAfter: 3}, ping, device.ErrClosed},
		{"hang", sim.Faults{HangAfter: 3}, ping, device.ErrTimeout},
		{"reset mid-generation", sim.Faults{ResetAfterTokens: 20}, gen, device.ErrBoardReset},
		{"slow responses within the timeout", sim.Faults{ResponseDelay: 50 * time.Millisecond}, ping, nil},
		{"slow responses past the timeout", sim.Faults{ResponseDelay: time.Second}, ping, device.ErrTimeout},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := sim.Start(t, sim.Options{Faults: tt.faults})
			ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
			defer cancel()
			opts := fast
			if tt.name == "retried generations ignore late answers" {
				opts.Timeout = 2 * time.Second
			}
			d := device.New(mustSerial(t, ctx, b.Path), opts)
			defer d.Close()
			// Two pings open the session: Hello must survive the faults too.
			_, err := d.Hello(ctx)
			if err == nil {
				for i := 0; i < 5 && err == nil; i++ {
					err = tt.run(ctx, d)
				}
			}
			if tt.want == nil {
				require.NoError(t, err)
				return
			}
			require.ErrorIs(t, err, tt.want)
			require.NoError(t, ctx.Err(), "failed before the deadline")
		})
	}
}

func mustSerial(t *testing.T, ctx context.Context, path string) *serialport.Port {
	t.Helper()
	p, err := serialport.Open(ctx, path, 0)
	require.NoError(t, err)
	return p
}

func TestNoProtocolAndWrongVersion(t *testing.T) {
	for _, tt := range []struct {
		name   string
		faults sim.Faults
		want   error
	}{
		{"silent board", sim.Faults{Silent: true}, device.ErrTimeout},
		{"binary noise", sim.Faults{Garbage: 64}, device.ErrNoProtocol},
		{"newer protocol", sim.Faults{ProtocolVersion: 2}, device.ErrVersion},
	} {
		t.Run(tt.name, func(t *testing.T) {
			b := sim.Start(t, sim.Options{Faults: tt.faults})
			ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
			defer cancel()
			d := device.New(mustSerial(t, ctx, b.Path), fast)
			defer d.Close()
			_, err := d.Hello(ctx)
			require.ErrorIs(t, err, tt.want)
			assert.NotEmpty(t, err.(*device.Error).Hint, "the error says what to do")
		})
	}
}

func TestContextDeadlineBoundsACall(t *testing.T) {
	b := sim.Start(t, sim.Options{Faults: sim.Faults{Silent: true}})
	ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
	defer cancel()
	d := device.New(mustSerial(t, t.Context(), b.Path), device.Options{Timeout: time.Hour})
	defer d.Close()
	_, err := d.Ping(ctx, nil)
	require.ErrorIs(t, err, device.ErrTimeout)
	require.ErrorIs(t, err, context.DeadlineExceeded)
}

func TestInMemoryPipe(t *testing.T) {
	tr, b, err := sim.Pipe(sim.Options{Platform: "rp2040"})
	require.NoError(t, err)
	defer b.Close()
	d := device.New(tr, device.Options{})
	defer d.Close()
	info, err := d.Hello(t.Context())
	require.NoError(t, err)
	assert.Equal(t, "rp2040", info.Platform)
}

// TestRebootBetweenRequestsIsReported: a board that reboots while the host
// is idle loses its model; the next request says so instead of failing
// with the board's puzzled NO_MODEL.
func TestRebootBetweenRequestsIsReported(t *testing.T) {
	d, b := open(t, sim.Options{Faults: sim.Faults{BootNoise: true}}, device.Options{})
	_, err := d.LoadModel(t.Context(), bytes.NewReader(tiny), int64(len(tiny)), device.LoadOptions{})
	require.NoError(t, err)
	before := b.BootID()
	b.Reboot() // as a brown-out or watchdog would, with no request in flight
	require.NotEqual(t, before, b.BootID())
	announced := fmt.Sprintf("boot id %08x", b.BootID())
	require.Eventually(t, func() bool {
		for _, l := range d.Logs() {
			if l.Host && strings.Contains(l.Text, announced) {
				return true
			}
		}
		return false
	}, 10*time.Second, 10*time.Millisecond, "the host sees the new boot announcement")

	_, err = d.Generate(t.Context(), device.GenerateRequest{MaxTokens: 4})
	require.ErrorIs(t, err, device.ErrBoardReset)
	assert.Contains(t, err.Error(), "load the model again")

	// Reported once: the board answers the next request.
	_, err = d.Ping(t.Context(), nil)
	require.NoError(t, err)
}

// TestBoardThatStopsReading: a board that no longer reads its UART fills
// the line, and the host's write blocks in the kernel, where closing the
// port does not reach it. The call must still end at its deadline.
func TestBoardThatStopsReading(t *testing.T) {
	b := sim.Start(t, sim.Options{Platform: "esp32p4", Faults: sim.Faults{StopReadingAfter: 3}}) // HELLO, MODEL_BEGIN, one chunk
	d := device.New(mustSerial(t, t.Context(), b.Path), device.Options{Timeout: time.Hour, Retries: 1000})
	defer d.Close()
	_, err := d.Hello(t.Context())
	require.NoError(t, err)
	big := bytes.Repeat(tiny, 8) // more than the tty buffers hold
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Second)
	defer cancel()
	_, err = d.LoadModel(ctx, bytes.NewReader(big), int64(len(big)), device.LoadOptions{Window: 64})
	require.ErrorIs(t, err, device.ErrTimeout)
	require.NoError(t, t.Context().Err(), "ended long before the test's own deadline")
}

// TestCancelledContextLeavesTheDeviceUsable: a call refused because its
// context is already over writes nothing and closes nothing.
func TestCancelledContextLeavesTheDeviceUsable(t *testing.T) {
	d, _ := open(t, sim.Options{}, device.Options{})
	done, cancel := context.WithCancel(t.Context())
	cancel()
	_, err := d.Ping(done, nil)
	require.ErrorIs(t, err, context.Canceled)
	_, err = d.Ping(t.Context(), nil)
	require.NoError(t, err, "the next call with a live context works")
}

// TestUploadOnANoisyLine: heavy corruption toward the board must end in a
// finished upload or a typed error before the deadline, never a deadlock.
func TestUploadOnANoisyLine(t *testing.T) {
	for _, every := range []int{5, 2} {
		t.Run(fmt.Sprintf("every %d frames corrupted", every), func(t *testing.T) {
			b := sim.Start(t, sim.Options{Faults: sim.Faults{CorruptRxEvery: every}})
			ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
			defer cancel()
			d := device.New(mustSerial(t, ctx, b.Path), fast)
			defer d.Close()
			_, err := d.Hello(ctx)
			for i := 0; err != nil && i < 3; i++ {
				_, err = d.Hello(ctx)
			}
			require.NoError(t, err)
			_, err = d.LoadModel(ctx, bytes.NewReader(tiny), int64(len(tiny)), device.LoadOptions{})
			if err != nil {
				require.ErrorIs(t, err, device.ErrCRC)
			}
			require.NoError(t, ctx.Err(), "ended before the deadline")
		})
	}
}
