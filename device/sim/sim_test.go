package sim_test

import (
	"bytes"
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/tinyprof/tinyprof/device"
	"github.com/tinyprof/tinyprof/device/sim"
	"github.com/tinyprof/tinyprof/firmware"
	"github.com/tinyprof/tinyprof/firmware/conformance"
	"github.com/tinyprof/tinyprof/fixtures"
	"github.com/tinyprof/tinyprof/power/powermodel"
	"github.com/tinyprof/tinyprof/serialport"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestConformance runs the protocol conformance suite, the same one the C
// agent passes, against simulated boards through the real serial stack.
func TestConformance(t *testing.T) {
	model := fixtures.Llama2C(fixtures.Stories260K, fixtures.Seed)
	for _, p := range []string{"esp32s3", "esp32p4", "stm32h7"} {
		t.Run(p, func(t *testing.T) {
			require.NoError(t, conform(t, sim.Options{Platform: p, Faults: sim.Faults{BootNoise: true}},
				conformance.Options{Model: model, ModelName: "stories260k.bin"}))
		})
	}
}

// TestRejectsUnknownFormat checks the board's answer to a model it cannot
// run is conformant.
func TestRejectsUnknownFormat(t *testing.T) {
	b := sim.Start(t, sim.Options{})
	port, err := serialport.Open(t.Context(), b.Path, 0)
	require.NoError(t, err)
	defer port.Close()
	require.NoError(t, conformance.Test(t.Context(), port, conformance.Options{AllowUnsupportedFormat: true}))
}

// TestTimeScaleDoesNotCountTwice: with TimeScale the generation's time
// passes in real time, and the board's clock must not add it again.
func TestTimeScaleDoesNotCountTwice(t *testing.T) {
	d, _ := openPipe(t, sim.Options{Platform: "esp32p4", TimeScale: 1})
	loadTiny(t, d)
	start := time.Now()
	before, err := d.Metrics(t.Context())
	require.NoError(t, err)
	g, err := d.Generate(t.Context(), device.GenerateRequest{MaxTokens: 8})
	require.NoError(t, err)
	after, err := d.Metrics(t.Context())
	require.NoError(t, err)
	wall := time.Since(start)
	genUS := uint64(g.Summary.TTFTUS + g.Summary.DecodeUS)
	elapsed := after.UptimeUS - before.UptimeUS
	// Between the two readings the board's clock advanced by real time,
	// which includes the generation, plus 100 µs of modelled dispatch per
	// request: not by the generation a second time. A busy machine only
	// makes wall larger, so the bound cannot flake.
	require.GreaterOrEqual(t, elapsed, genUS)
	require.Less(t, elapsed, uint64(wall.Microseconds())+genUS/2, "elapsed %d µs for a %d µs generation in %v", elapsed, genUS, wall)
}

// TestRebootDuringGenerationEndsIt: a board reset while it generates must
// not keep sending that generation's tokens into the new boot, nor free
// its memory into the new boot's accounts.
func TestRebootDuringGenerationEndsIt(t *testing.T) {
	d, b := openPipe(t, sim.Options{Platform: "esp32s3", TimeScale: 0.02})
	before, err := d.Metrics(t.Context())
	require.NoError(t, err)

	// The model lives in PSRAM and is lost at the reboot; what matters is
	// the heap of the new boot.
	loadTiny(t, d)
	done, first := make(chan error, 1), make(chan struct{})
	go func() {
		var once sync.Once
		_, err := d.Generate(t.Context(), device.GenerateRequest{MaxTokens: 480,
			OnToken: func(int, firmware.Token) { once.Do(func() { close(first) }) }})
		done <- err
	}()
	<-first // the board is generating: about half a second to go at TimeScale 0.02
	b.Reboot()
	require.ErrorIs(t, <-done, device.ErrBoardReset)

	// Were the old generation still running, it would end within this wait
	// and free its memory into the new boot. (Correct code passes however
	// long the wait; only a stray goroutine needs it to show itself.)
	time.Sleep(time.Second)
	after, err := d.Metrics(t.Context())
	require.NoError(t, err)
	require.Equal(t, before.FreeHeap, after.FreeHeap, "the new boot's heap is its own")
	require.Equal(t, before.PSRAMFree, after.PSRAMFree)
}

// TestRebootDuringSampledGeneration: memory reads during a generation
// record its power up to them; a reboot then must start the new boot
// after that record, so that the new boot's idle readings are idle and
// its clock runs on from there.
func TestRebootDuringSampledGeneration(t *testing.T) {
	d, b := openPipe(t, sim.Options{Platform: "esp32s3", TimeScale: 0.05})
	loadTiny(t, d)

	var once sync.Once
	_, err := d.Generate(t.Context(), device.GenerateRequest{MaxTokens: 480, SampleEvery: time.Millisecond,
		OnToken: func(i int, _ firmware.Token) {
			if i >= 40 {
				once.Do(b.Reboot)
			}
		}})
	require.ErrorIs(t, err, device.ErrBoardReset)

	pm, err := b.PowerModel()
	require.NoError(t, err)
	idle := float64(pm.Power(powermodel.Activity{})) * 1e6 // µW
	first, err := d.Metrics(t.Context())
	require.NoError(t, err)
	time.Sleep(50 * time.Millisecond)
	second, err := d.Metrics(t.Context())
	require.NoError(t, err)
	require.Greater(t, second.UptimeUS, first.UptimeUS)
	require.InEpsilon(t, idle, float64(second.PowerUW), 0.01, "the new boot idles at idle power")
	require.LessOrEqual(t, second.CPULoad, uint16(10), "and its core is idle but for answering requests")
}

// TestConformanceCatchesBusyMetrics: the suite fails a board that refuses
// reads during a generation, as older firmware does, and says why.
func TestConformanceCatchesBusyMetrics(t *testing.T) {
	err := conform(t, sim.Options{Platform: "esp32s3", TimeScale: 0.25, Faults: sim.Faults{BusyMetrics: true}},
		conformance.Options{Model: fixtures.Llama2C(fixtures.Stories260K, fixtures.Seed)})
	require.ErrorContains(t, err, "GET_METRICS sent during the generation")
	require.ErrorContains(t, err, "want METRICS between two tokens")
}

// TestConformanceRealTime runs the suite on a board that takes its
// modelled time: its prompt processing is a silence longer than the
// serial port's 100 ms read time-out, which is a quiet line, not an end.
func TestConformanceRealTime(t *testing.T) {
	require.NoError(t, conform(t, sim.Options{Platform: "esp32s3", TimeScale: 1},
		conformance.Options{Model: fixtures.Llama2C(fixtures.Stories260K, fixtures.Seed), MaxTokens: 8}))
}

// conform runs the conformance suite against a simulated board behind a
// pty, through the real serial stack, within a minute.
func conform(t *testing.T, opts sim.Options, copts conformance.Options) error {
	t.Helper()
	b := sim.Start(t, opts)
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	port, err := serialport.Open(ctx, b.Path, 0)
	require.NoError(t, err)
	defer port.Close()
	return conformance.Test(ctx, port, copts)
}

// openPipe is a simulated board on an in-memory line, Hello'd.
func openPipe(t *testing.T, opts sim.Options) (*device.Device, *sim.Board) {
	t.Helper()
	tr, b, err := sim.Pipe(opts)
	require.NoError(t, err)
	d := device.New(tr, device.Options{})
	t.Cleanup(func() { d.Close(); b.Close() })
	_, err = d.Hello(t.Context())
	require.NoError(t, err)
	return d, b
}

// loadTiny uploads the built-in stories260K-class model.
func loadTiny(t *testing.T, d *device.Device) {
	t.Helper()
	model := fixtures.Llama2C(fixtures.Stories260K, fixtures.Seed)
	_, err := d.LoadModel(t.Context(), bytes.NewReader(model), int64(len(model)), device.LoadOptions{})
	require.NoError(t, err)
}
