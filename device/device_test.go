package device_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/tinyprof/tinyprof/device"
	"github.com/tinyprof/tinyprof/device/sim"
	"github.com/tinyprof/tinyprof/firmware"
	"github.com/tinyprof/tinyprof/fixtures"
	"github.com/tinyprof/tinyprof/serialport"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// tiny is the built-in stories260K-class llama2.c model, about 1 MiB.
var tiny = fixtures.Llama2C(fixtures.Stories260K, fixtures.Seed)

// open starts a simulated board behind a pty and opens it through the real
// serial stack.
func open(t *testing.T, opts sim.Options, dopts device.Options) (*device.Device, *sim.Board) {
	t.Helper()
	b := sim.Start(t, opts)
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	d, err := device.Open(ctx, b.Path, dopts)
	require.NoError(t, err)
	t.Cleanup(func() { d.Close() })
	return d, b
}

func TestHelloPingMetricsOverPTY(t *testing.T) {
	d, b := open(t, sim.Options{Platform: "esp32s3", Faults: sim.Faults{BootNoise: true}}, device.Options{})
	info := d.Info()
	require.NotNil(t, info)
	assert.Equal(t, "esp32s3", info.Platform)
	assert.Equal(t, uint8(firmware.ProtocolVersion), info.ProtocolVersion)
	assert.Equal(t, b.BootID(), info.BootID)
	assert.Equal(t, uint32(512*1024), info.SRAM)

	for _, payload := range [][]byte{nil, {0}, []byte("hello\n\x00\r"), bytes.Repeat([]byte{0}, 1000)} {
		_, err := d.Ping(t.Context(), payload)
		require.NoError(t, err, "ping %d bytes", len(payload))
	}
	m, err := d.Metrics(t.Context())
	require.NoError(t, err)
	assert.Greater(t, m.FreeHeap, uint32(0))
	assert.LessOrEqual(t, m.MinFreeHeap, m.FreeHeap)
	assert.Equal(t, uint32(8<<20), m.PSRAMFree)
}

func TestBootNoiseBecomesLogLines(t *testing.T) {
	d, b := open(t, sim.Options{Faults: sim.Faults{BootNoise: true}}, device.Options{})
	_, err := d.Reset(t.Context())
	require.NoError(t, err)
	assert.Equal(t, 1, b.Resets())
	var raw []string
	for _, l := range d.Logs() {
		if l.Raw {
			raw = append(raw, l.Text)
		}
	}
	assert.Contains(t, raw, "ESP-ROM:esp32s3-20210327")
	assert.Contains(t, raw, "entry 0x403c9880")
}

func TestUpload1MiBAndGenerate64Tokens(t *testing.T) {
	d, _ := open(t, sim.Options{Platform: "esp32s3"}, device.Options{})
	var calls int
	var last int64
	res, err := d.LoadModel(t.Context(), bytes.NewReader(tiny), int64(len(tiny)), device.LoadOptions{
		Name: "stories260k.bin",
		Progress: func(done, total int64) {
			calls++
			assert.GreaterOrEqual(t, done, last, "progress never goes back")
			last = done
			assert.Equal(t, int64(len(tiny)), total)
		}})
	require.NoError(t, err)
	assert.Greater(t, len(tiny), 1<<20-1, "the fixture is a 1 MiB upload")
	assert.Equal(t, int64(len(tiny)), last)
	assert.Greater(t, calls, 100)
	assert.Equal(t, "psram", res.Region)
	assert.InDelta(t, 260_000, res.Parameters, 10_000)

	g, err := d.Generate(t.Context(), device.GenerateRequest{Prompt: "Once upon a time", MaxTokens: 64, Seed: 42})
	require.NoError(t, err)
	require.Len(t, g.Tokens, 64)
	assert.Equal(t, uint16(64), g.Summary.Tokens)
	for i := 1; i < len(g.Tokens); i++ {
		require.Greater(t, g.Tokens[i].TimeUS, g.Tokens[i-1].TimeUS, "device timestamps increase")
	}
	assert.Equal(t, g.Summary.StartUS+uint64(g.Summary.TTFTUS), g.Tokens[0].TimeUS)
	assert.Equal(t, uint64(g.Summary.DecodeUS), g.Tokens[63].TimeUS-g.Tokens[0].TimeUS)
	// package platform/cost's figure for stories260K float32 on the
	// esp32s3 row (octal PSRAM, both cores, no vendor SIMD): about 43
	// tok/s. DaveBben/esp32-llm's 19.13 tok/s is the quad-PSRAM
	// esp32s3-fh4r2 row's calibration point.
	assert.InDelta(t, 43, g.DecodeTokensPerSecond(), 3)

	again, err := d.Generate(t.Context(), device.GenerateRequest{Prompt: "Once upon a time", MaxTokens: 64, Seed: 42})
	require.NoError(t, err)
	for i := range g.Tokens {
		require.Equal(t, g.Tokens[i].ID, again.Tokens[i].ID, "deterministic for a seed")
	}
}

func TestUploadIntegrityErrors(t *testing.T) {
	d, _ := open(t, sim.Options{}, device.Options{})
	junk := make([]byte, 4096)
	rand.Read(junk)
	_, err := d.LoadModel(t.Context(), bytes.NewReader(junk), int64(len(junk)), device.LoadOptions{})
	require.ErrorIs(t, err, device.ErrRemote)
	var fe *firmware.Error
	require.ErrorAs(t, err, &fe)
	assert.Equal(t, firmware.CodeUnsupportedFormat, fe.Code)

	_, err = d.Generate(t.Context(), device.GenerateRequest{MaxTokens: 4})
	require.ErrorAs(t, err, &fe)
	assert.Equal(t, firmware.CodeNoModel, fe.Code)
}

func TestModelTooLarge(t *testing.T) {
	d, _ := open(t, sim.Options{Platform: "stm32f4"}, device.Options{})
	_, err := d.LoadModel(t.Context(), bytes.NewReader(tiny), int64(len(tiny)), device.LoadOptions{})
	var fe *firmware.Error
	require.ErrorAs(t, err, &fe)
	assert.Equal(t, firmware.CodeModelTooLarge, fe.Code)
	assert.Contains(t, err.Error(), "analyze-model", "the error says what to do")
}

func TestPortBusyFailsAtOnce(t *testing.T) {
	d, b := open(t, sim.Options{}, device.Options{})
	_ = d
	start := time.Now()
	_, err := device.Open(t.Context(), b.Path, device.Options{})
	require.ErrorIs(t, err, device.ErrPortBusy)
	assert.Less(t, time.Since(start), 5*time.Second, "fails at once, not after a timeout")
}

func TestPortMissing(t *testing.T) {
	_, err := device.Open(t.Context(), "/dev/ttyNOPE0", device.Options{})
	require.ErrorIs(t, err, device.ErrPortMissing)
	assert.Contains(t, err.Error(), "/dev/ttyNOPE0")
}

func TestErrorsMatchOnlyTheirCode(t *testing.T) {
	err := error(&device.Error{Op: "ping", Code: device.CodeTimeout, Err: context.DeadlineExceeded})
	assert.True(t, errors.Is(err, device.ErrTimeout))
	assert.False(t, errors.Is(err, device.ErrCRC))
	assert.True(t, errors.Is(err, context.DeadlineExceeded))
}

// TestHighFileDescriptorIsAnErrorNotAPanic: go.bug.st/serial's Read panics
// on a port fd >= 1024; OpenSerial refuses such a port with an error.
func TestHighFileDescriptorIsAnErrorNotAPanic(t *testing.T) {
	b := sim.Start(t, sim.Options{})
	var files []*os.File
	defer func() {
		for _, f := range files {
			f.Close()
		}
	}()
	for range 1030 {
		f, err := os.Open(os.DevNull)
		if err != nil {
			t.Skipf("cannot open enough files to test this: %v", err)
		}
		files = append(files, f)
	}
	_, err := serialport.Open(t.Context(), b.Path, 0)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "open serial ports early")
}

// TestEmulatedBaudPacesTheUpload: with Baud set, the simulated board takes
// bytes no faster than the wire would deliver them (8N1: 10 bits a byte).
// Only a lower bound is asserted, which a busy machine cannot break.
func TestEmulatedBaudPacesTheUpload(t *testing.T) {
	d, _ := open(t, sim.Options{Baud: 115200}, device.Options{})
	data := fixtures.Llama2C(fixtures.Stories260K, 1)[:8192] // the board rejects the format at the end; the pacing is what counts
	start := time.Now()
	_, err := d.LoadModel(t.Context(), bytes.NewReader(data), int64(len(data)), device.LoadOptions{})
	require.Error(t, err)
	min := time.Duration(float64(len(data)*10) / 115200 * float64(time.Second))
	assert.GreaterOrEqual(t, time.Since(start), min, "8 KiB at 115200 baud takes at least %v", min)
}
