package emu_test

import (
	"bytes"
	"flag"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tinyprof/tinyprof/device"
	"github.com/tinyprof/tinyprof/device/emu"
	"github.com/tinyprof/tinyprof/fixtures"
	"github.com/tinyprof/tinyprof/model/llama"
)

// emuLong also runs Stories260K in every format, whose float32 files take
// minutes to upload over the emulated serial line.
var emuLong = flag.Bool("emu.long", false, "also run Stories260K in every format on the emulated boards (minutes)")

// formats are the fixture files of one shape in every format the runtime
// reads: llama2.c legacy and version 1 (float32) and version 2 (int8),
// GGUF F32, Q8_0 and Q4_0, and two of tinyprof's group-wise formats (2
// bits symmetric and 4 bits asymmetric, groups of 32; model/GROUPWISE.md).
func formats(shape string) []string {
	return []string{shape + ".bin", shape + "-v1.bin", shape + "-q80.bin", shape + ".gguf", shape + "-q8_0.gguf", shape + "-q4_0.gguf",
		shape + "-g2s32.gguf", shape + "-g4a32.gguf"}
}

// agreement is a generation both sides run: greedy, and sampled with
// temperature, top-p and top-k (permille values, as the protocol sends).
var agreement = []struct {
	name string
	req  device.GenerateRequest
	opts llama.Options
}{
	{"greedy", device.GenerateRequest{Prompt: "Once upon a time", MaxTokens: 40},
		llama.Options{MaxTokens: 40}},
	{"sampled", device.GenerateRequest{Prompt: "the cat", MaxTokens: 40, Seed: 42, Temperature: 0.8, TopP: 0.9, TopK: 40},
		llama.Options{MaxTokens: 40, Seed: 42, Temperature: float32(800) / 1000, TopP: float32(900) / 1000, TopK: 40}},
}

// reference returns model/llama's tokens for each agreement case.
func reference(t *testing.T, path string, ctx int) [][]uint32 {
	t.Helper()
	m, err := llama.Open(path)
	require.NoError(t, err)
	out := make([][]uint32, len(agreement))
	for i, a := range agreement {
		opts := a.opts
		opts.Context = ctx
		out[i], err = m.Generate(t.Context(), []byte(a.req.Prompt), opts)
		require.NoError(t, err)
	}
	return out
}

// TestTokensMatchReference uploads each fixture format into an emulated
// Cortex-M4F's PSRAM through the real serial client and requires exactly
// model/llama's tokens, greedy and sampled.
func TestTokensMatchReference(t *testing.T) {
	names := formats("tiny")
	if *emuLong {
		names = append(names, formats("stories260k")...)
	}
	for _, name := range names {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			path := fixtures.Model(t, name)
			want := reference(t, path, 0)
			b := emu.Start(t, emu.Options{Machine: "mps2-an386"})
			p, err := b.Open(t.Context())
			require.NoError(t, err)
			d := device.New(p, device.Options{})
			t.Cleanup(func() { d.Close() })
			_, err = d.Hello(t.Context())
			require.NoError(t, err)
			data := readModel(t, name)
			res, err := d.LoadModel(t.Context(), bytes.NewReader(data), int64(len(data)), device.LoadOptions{Name: name})
			require.NoError(t, err)
			assert.Equal(t, "psram", res.Region)
			t.Logf("%s: %d bytes uploaded in %v", name, len(data), res.Duration)
			for i, a := range agreement {
				g, err := d.Generate(t.Context(), a.req)
				require.NoError(t, err, a.name)
				if diff := cmp.Diff(want[i], ids(g.Tokens)); diff != "" {
					t.Errorf("%s: %s tokens differ from model/llama's (-reference +board):\n%s", b.Label(), a.name, diff)
				}
			}
		})
	}
}

// TestFlashModel links Stories260K at Q4_0 (353 KB) into the 1 MiB flash
// of the emulated STM32F405, which holds 64 positions of KV cache in its
// 192 KiB of RAM: the board generates model/llama's tokens without an
// upload, reports the model in flash, and an emulated board in INFO.
func TestFlashModel(t *testing.T) {
	const name = "stories260k-q4_0.gguf"
	data := readModel(t, name)
	b := emu.Start(t, emu.Options{Machine: "netduinoplus2", Build: emu.BuildOptions{FlashModel: data}})
	p, err := b.Open(t.Context())
	require.NoError(t, err)
	d := device.New(p, device.Options{})
	t.Cleanup(func() { d.Close() })
	info, err := d.Hello(t.Context())
	require.NoError(t, err)
	assert.True(t, info.Capabilities.Emulated(), "INFO capabilities %v", info.Capabilities)

	want := reference(t, fixtures.Model(t, name), 64)
	for i, a := range agreement {
		g, err := d.Generate(t.Context(), a.req)
		require.NoError(t, err, a.name)
		if diff := cmp.Diff(want[i], ids(g.Tokens)); diff != "" {
			t.Errorf("%s: %s tokens from flash differ from model/llama's (-reference +board):\n%s", b.Label(), a.name, diff)
		}
	}
	m, err := d.Metrics(t.Context())
	require.NoError(t, err)
	// 5 layers × 64 positions × 32 floats, keys and values.
	const kv = 5 * 64 * 32 * 2 * 4
	assert.Greater(t, uint32(b.Firmware.Arena)-m.MinFreeHeap, uint32(kv), "the arena's peak holds the KV cache")
}
