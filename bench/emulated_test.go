package bench_test

import (
	"bytes"
	"flag"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tinyprof/tinyprof/bench"
	"github.com/tinyprof/tinyprof/device"
	"github.com/tinyprof/tinyprof/device/emu"
	"github.com/tinyprof/tinyprof/device/sim"
	"github.com/tinyprof/tinyprof/fixtures"
	"github.com/tinyprof/tinyprof/lab"
	"github.com/tinyprof/tinyprof/model"
)

// emuTokens is how many tokens each generation of BenchmarkEmulated asks
// for: few by default, so that go test -bench . stays quick; raise it for
// steadier figures.
var emuTokens = flag.Int("bench.emu-tokens", 16, "tokens per generation in BenchmarkEmulated")

// emuModel is a small llama2.c model of the stories260K architecture,
// quick to upload over the emulated UART (about 9 KB/s).
var emuModel = fixtures.Llama2CConfig{
	Llama2CConfig: model.Llama2CConfig{Dim: 16, HiddenDim: 48, Layers: 2, Heads: 2, KVHeads: 1, Vocab: 64, SeqLen: 64, Shared: true},
}

// startEmu starts an emulated board of machine for tb and returns it and
// its connected Device, or skips (fails under TINYPROF_REQUIRE_EMULATION=1)
// without QEMU and the cross compiler.
func startEmu(tb testing.TB, machine string) (*emu.Board, *device.Device) {
	tb.Helper()
	lab.NeedEmulation(tb)
	board := emu.Start(tb, emu.Options{Machine: machine, Seed: 1})
	p, err := board.Open(tb.Context())
	require.NoError(tb, err)
	dev := device.New(p, device.Options{})
	tb.Cleanup(func() { dev.Close() })
	_, err = dev.Hello(tb.Context())
	require.NoError(tb, err)
	return board, dev
}

// BenchmarkEmulated runs Generate on emulated Cortex-M4F and Cortex-M7
// boards: tinyprof's firmware on QEMU, reached through the real serial
// client. Beside tok/s it reports instr/tok, exact guest instructions per
// token: under -icount shift=0 one instruction is 1 ns of the board's
// clock, so tok/s, ttft-ns and ns/op are at that icount clock, not a real
// chip's. arena-B is the RAM the firmware reserves for the inference
// arena, peak-heap-B its high-water mark. The configuration lines carry
// emulated: QEMU M, instruction-count time, not cycle-accurate, so
// benchstat never mixes these results with simulated or measured ones.
//
//	go test ./bench -run '^$' -bench Emulated -bench.emu-tokens 64
func BenchmarkEmulated(b *testing.B) {
	data := fixtures.Llama2C(emuModel, fixtures.Seed)
	for _, machine := range []string{"mps2-an386", "mps2-an500"} {
		b.Run(bench.Name(machine, "tiny-emu", "f32", *emuTokens), func(b *testing.B) {
			board, dev := startEmu(b, machine)
			bench.Generate(b, dev, data, bench.Tokens(*emuTokens), bench.ModelName("tiny-emu"), bench.Quant("f32"))
			b.ReportMetric(float64(board.Firmware.Arena), "arena-B")
		})
	}
}

// Generate on an emulated board labels its results emulated and reports
// instructions per token; on a simulated one it reports none.
func TestGenerateEmulated(t *testing.T) {
	_, dev := startEmu(t, "mps2-an386")
	data := fixtures.Llama2C(emuModel, fixtures.Seed)
	var cfg bytes.Buffer
	r := testing.Benchmark(func(b *testing.B) {
		bench.Generate(b, dev, data, bench.Tokens(8), bench.ModelName("tiny-emu"), bench.Quant("f32"), bench.ConfigTo(&cfg))
	})
	require.Positive(t, r.N, "the benchmark ran")
	assert.Contains(t, cfg.String(), "\nsimulated: false\nemulated: QEMU mps2-an386, instruction-count time, not cycle-accurate\n")
	assert.Contains(t, cfg.String(), "board: emu-mps2-an386\n")
	assert.Contains(t, cfg.String(), "Unit instr/tok better=lower\n")
	ipt := r.Extra["instr/tok"]
	assert.Positive(t, ipt)
	// instr/tok is decode ns per token: tok/s is its inverse at 1e9 instr/s.
	assert.InEpsilon(t, 1e9/ipt, r.Extra["tok/s"], 1e-9)
	assert.True(t, bench.Emulated(dev.Info()))
	assert.Equal(t, "emulated: QEMU mps2-an386, instruction-count time, not cycle-accurate", bench.EmulatedLabel(dev.Info()))

	simDev, done := openSim(sim.Options{Platform: "esp32s3"})
	defer done()
	assert.False(t, bench.Emulated(simDev.Info()))
	assert.Empty(t, bench.EmulatedLabel(simDev.Info()))
	assert.Equal(t, "false", bench.EmulatedConfig(simDev.Info()))
	assert.False(t, strings.HasPrefix(bench.BoardID(simDev), "emu-"))
}
