package emu_test

import (
	"bytes"
	"context"
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tinyprof/tinyprof/device"
	"github.com/tinyprof/tinyprof/device/emu"
)

// TestFirmwareSize builds every target and logs its size; the agent plus
// the board code must stay small, whatever the arena takes.
func TestFirmwareSize(t *testing.T) {
	for _, m := range emu.Machines() {
		t.Run(m.Name, func(t *testing.T) {
			fw := build(t, m.Name, emu.BuildOptions{})
			t.Logf("%s: text %d, data %d, bss %d; arena %d, stack %d (%s)", m.Name, fw.Text, fw.Data, fw.BSS, fw.Arena, fw.Stack, fw.ELF)
			assert.Less(t, fw.Text, 20<<10, "flash bytes of agent, runtime, board and C library")
			assert.Less(t, fw.Data+fw.BSS, 8<<10, "static RAM bytes")
			assert.Positive(t, fw.Arena)
		})
	}
}

// TestMetricsAreMeasured checks that METRICS reports what the firmware
// really holds: after an upload the upload region's use is the model's
// size, and a generation's arena (the runtime's activations and KV cache)
// shows in the free and minimum free heap and in GEN_DONE's peak.
func TestMetricsAreMeasured(t *testing.T) {
	b, d := connect(t, device.Options{})
	ctx := t.Context()
	size := len(readModel(t, testModel))
	m, err := d.Metrics(ctx)
	require.NoError(t, err)
	assert.Equal(t, uint32(b.Machine.PSRAM-size), m.PSRAMFree, "PSRAM free after a %d-byte upload", size)
	assert.Equal(t, uint32(b.Machine.PSRAM-size), m.PSRAMMinFree)
	g, err := d.Generate(ctx, device.GenerateRequest{MaxTokens: 8, Temperature: 0.8, TopK: 10})
	require.NoError(t, err)
	after, err := d.Metrics(ctx)
	require.NoError(t, err)
	// Tiny at its context of 1024: 2 layers × 1024 positions × 16 floats,
	// keys and values, is 262,144 bytes of KV cache; the rest of the arena
	// (activations, layer table, RoPE, the top-k sampler's 8 bytes per
	// token of vocabulary) is a few KiB.
	const kv = 2 * 1024 * 16 * 2 * 4
	used := uint32(b.Firmware.Arena) - after.FreeHeap
	assert.Greater(t, used, uint32(kv), "arena in use holds the KV cache")
	assert.Less(t, used, uint32(kv+8<<10), "arena in use beyond the KV cache")
	assert.Equal(t, g.Summary.PeakHeap, uint32(b.Firmware.Arena)-after.MinFreeHeap, "GEN_DONE's peak is the arena's high-water mark")
	assert.LessOrEqual(t, after.MinFreeHeap, after.FreeHeap)
	assert.Equal(t, after.FreeHeap, after.LargestFree, "a bump allocator's free bytes are one block")
}

// BenchmarkPing reports what a PING round trip costs the firmware in guest
// instructions (emulated: QEMU's -icount shift=0 counts 1 ns per
// instruction and the firmware's clock stops while it sleeps), measured by
// the board's own uptime across b.N PINGs, less that of the METRICS
// exchanges around them. ns/op is host wall time.
func BenchmarkPing(b *testing.B) {
	for _, m := range emu.Machines() {
		for _, size := range []int{0, 64, 512} {
			b.Run(fmt.Sprintf("%s/%dB", m.Name, size), func(b *testing.B) {
				board := emu.Start(b, emu.Options{Machine: m.Name, Seed: 1})
				p, err := board.Open(b.Context())
				require.NoError(b, err)
				d := device.New(p, device.Options{})
				defer d.Close()
				ctx := b.Context()
				_, err = d.Hello(ctx)
				require.NoError(b, err)
				data := bytes.Repeat([]byte{0x5a}, size)
				base := uptimeDelta(b, ctx, d, 0, nil)
				b.ResetTimer()
				total := uptimeDelta(b, ctx, d, b.N, data)
				b.StopTimer()
				b.ReportMetric(float64(total-base)*1000/float64(b.N), "guest-instr/op")
			})
		}
	}
}

// uptimeDelta returns the board's uptime, in µs, across n PINGs of data.
func uptimeDelta(b *testing.B, ctx context.Context, d *device.Device, n int, data []byte) uint64 {
	b.Helper()
	m0, err := d.Metrics(ctx)
	require.NoError(b, err)
	for range n {
		_, err := d.Ping(ctx, data)
		require.NoError(b, err)
	}
	m1, err := d.Metrics(ctx)
	require.NoError(b, err)
	return m1.UptimeUS - m0.UptimeUS
}

// build builds the firmware for machine, skipping without the compiler.
func build(t *testing.T, machine string, opts emu.BuildOptions) *emu.Firmware {
	t.Helper()
	fw, err := emu.Build(t.Context(), machine, opts)
	if errorsIsToolMissing(err) {
		t.Skip(err)
	}
	require.NoError(t, err)
	return fw
}
