package bench

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"slices"
	"strconv"
	"testing"

	"github.com/tinyprof/tinyprof/bench/internal/stats"
	"github.com/tinyprof/tinyprof/device"
	"github.com/tinyprof/tinyprof/firmware"
)

// maxLatencySamples bounds the inter-token latencies one Generate keeps.
const maxLatencySamples = 1 << 20

// Generate benchmarks generation of model on dev: it loads the model once,
// outside the timed region, then runs one generation per b.Loop iteration
// and reports, with b.ReportMetric, from the board's own clock:
//
//	ns/op              the board's time for one generation (TTFT + decode), mean
//	tok/s              decode throughput, (tokens-1) over decode time, all generations
//	instr/tok          an emulated board only: guest instructions per decoded
//	                   token, exact (see InstructionsPerToken: under QEMU's
//	                   -icount shift=0 board-clock ns are instructions, so
//	                   tok/s there is at the icount clock of 1e9 instr/s)
//	prefill-instr/tok  an emulated board only: instructions per prompt token
//	prefill-tok/s      prompt tokens after BOS over prefill time
//	ttft-ns            time to first token, median
//	itl-p50-ns, -p95-ns, -p99-ns   inter-token latency percentiles over every token
//	peak-heap-B, peak-psram-B      the board's peak use during any generation
//	free-heap-after-B  free heap after the last generation
//	W, J/tok           average power over the generations and energy per
//	                   generated token, only with a meter (WithMeter) or a
//	                   board that measures its own power; the
//	                   power-source line names which
//	J/tok-min, -max    the bounds of J/tok from the windows' uncertainty
//	idle-W             the board's power while idle before each generation
//	                   (a meter only)
//
// Before its first result it writes configuration lines to standard output
// (see ConfigTo): board, platform, chip, firmware, model, model-sha256,
// quant, weights-in, prompt, simulated, emulated and power-source, so that
// benchstat never mixes results from different boards or models, nor
// modelled, emulated and measured figures: an emulated board's emulated
// line is its label, "QEMU M, instruction-count time, not cycle-accurate". Name sub-benchmarks with
// Name so that benchstat can split them into columns, and so that they
// compare with the CLI's.
//
// A generation that fails, returns fewer tokens than asked, or a board that
// resets fails the benchmark. dev must have answered Hello; Generate
// honours the Prompt, Tokens, Seed, ModelName, Quant, WithMeter and
// ConfigTo options.
func Generate(b *testing.B, dev Device, model []byte, opts ...Option) {
	b.Helper()
	s := newSettings(opts)
	ctx := b.Context()
	info := dev.Info()
	switch {
	case info == nil:
		b.Fatal("bench.Generate: the board has not answered Hello: call Hello first (device.Open and hwtest.Lease do)")
	case s.tokens < 1 || s.tokens > 65535:
		b.Fatalf("bench.Generate: Tokens(%d) must be between 1 and 65535", s.tokens)
	case len(model) == 0:
		b.Fatal("bench.Generate: the model is empty: pass the model file's bytes")
	}
	load, err := dev.LoadModel(ctx, bytes.NewReader(model), int64(len(model)), device.LoadOptions{Name: s.modelName})
	if err != nil {
		b.Fatalf("bench.Generate: load the model: %v", err)
	}
	m0, err := dev.Metrics(ctx)
	if err != nil {
		b.Fatalf("bench.Generate: read the board's metrics: %v", err)
	}
	power := PowerSource(s.meter, info)
	emitConfig(b, s.config, map[string]string{
		"board": BoardID(dev), "platform": info.Platform, "chip": info.Chip, "firmware": info.Firmware,
		"model": s.modelName, "model-sha256": hex.EncodeToString(load.SHA256[:]), "quant": s.quant,
		"weights-in": load.Region, "prompt": s.prompt, "simulated": strconv.FormatBool(info.Capabilities.Simulated()),
		"emulated": emulatedConfig(info), "power-source": power,
	}, "")

	acc := genStats{emulated: Emulated(info)}
	ledger := NewLedger(dev, m0)
	for i := 0; b.Loop(); i++ {
		req := device.GenerateRequest{Prompt: s.prompt, MaxTokens: s.tokens, Seed: s.seed + uint32(i)}
		e, err := ledger.Generate(ctx, req, s.meter)
		if err != nil {
			b.Fatalf("bench.Generate: generation %d: %v", i+1, err)
		}
		ledger.Count(e)
		acc.add(e.Generation, e.After())
	}
	acc.report(b)
	if t, ok := ledger.Energy(); ok {
		b.ReportMetric(t.Watts(), "W")
		b.ReportMetric(t.PerToken(), "J/tok")
		if t.Metered {
			b.ReportMetric(t.JoulesMin/float64(t.Tokens), "J/tok-min")
			b.ReportMetric(t.JoulesMax/float64(t.Tokens), "J/tok-max")
			if t.IdleWatts > 0 {
				b.ReportMetric(t.IdleWatts, "idle-W")
			}
		}
	}
}

// Name returns a sub-benchmark name that benchstat splits into columns,
// e.g. "platform=esp32s3/model=stories260k/quant=q4_0/tokens=64": name the
// b.Run around Generate with it, giving the Tokens that Generate is given.
// tiny-profiler benchmark --format bench names its results
// "BenchmarkGenerate/" + Name(…), so that a BenchmarkGenerate under go test
// and the CLI's runs of one case compare as one benchmark. Characters that
// would split a name or its line (space and the other control
// characters, /, =) become _.
func Name(platform, model, quant string, tokens int) string {
	return fmt.Sprintf("platform=%s/model=%s/quant=%s/tokens=%d", namePart(platform), namePart(model), namePart(quant), tokens)
}

// namePart is a value of Name with its separators replaced.
func namePart(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c <= ' ' || c == '/' || c == '=' || c == 0x7f {
			b[i] = '_'
		}
	}
	return string(b)
}

// PowerSource says where Generate's and the CLI report's power figures
// come from, given the meter (nil for none) and the board's Hello: the
// power-source configuration line.
func PowerSource(m Meter, info *firmware.Info) string {
	switch {
	case m != nil:
		return "meter " + m.Name()
	case info.Capabilities.Power() && info.Capabilities.Simulated():
		return "board METRICS (modelled by the simulated board, not measured)"
	case info.Capabilities.Power():
		return "board METRICS (the board's own power monitor, averaged between readings)"
	}
	return "none"
}

// genStats accumulates Generate's timing and memory figures; the Ledger
// owns its energy.
type genStats struct {
	emulated               bool // report instructions too
	n                      int
	boardNS                float64
	decodeTokens, decodeUS float64
	prefillTokens          float64
	prefillUS              float64
	ttftNS                 []float64
	itlNS                  []float64
	peakHeap, peakPSRAM    int64
	freeAfter              int64
}

// add accumulates one generation and the reading after it.
func (a *genStats) add(g *device.Generation, after *firmware.Metrics) {
	s := g.Summary
	a.n++
	a.boardNS += float64(uint64(s.TTFTUS)+uint64(s.DecodeUS)) * 1e3
	if len(g.Tokens) > 1 && s.DecodeUS > 0 {
		a.decodeTokens += float64(len(g.Tokens) - 1)
		a.decodeUS += float64(s.DecodeUS)
	}
	if s.PromptTokens > 1 && s.PrefillUS > 0 {
		a.prefillTokens += float64(s.PromptTokens - 1)
		a.prefillUS += float64(s.PrefillUS)
	}
	a.ttftNS = append(a.ttftNS, float64(s.TTFTUS)*1e3)
	for _, d := range g.InterTokenLatencies() {
		if len(a.itlNS) < maxLatencySamples {
			a.itlNS = append(a.itlNS, float64(d.Nanoseconds()))
		}
	}
	a.peakHeap = max(a.peakHeap, int64(s.PeakHeap))
	a.peakPSRAM = max(a.peakPSRAM, int64(s.PeakPSRAM))
	a.freeAfter = int64(after.FreeHeap)
}

func (a *genStats) report(b *testing.B) {
	if a.n == 0 {
		return
	}
	b.ReportMetric(a.boardNS/float64(a.n), "ns/op")
	if a.decodeUS > 0 {
		b.ReportMetric(a.decodeTokens/(a.decodeUS/1e6), "tok/s")
	}
	if a.prefillUS > 0 {
		b.ReportMetric(a.prefillTokens/(a.prefillUS/1e6), "prefill-tok/s")
	}
	if a.emulated && a.decodeTokens > 0 {
		b.ReportMetric(a.decodeUS*1e3/a.decodeTokens, "instr/tok")
	}
	if a.emulated && a.prefillTokens > 0 {
		b.ReportMetric(a.prefillUS*1e3/a.prefillTokens, "prefill-instr/tok")
	}
	b.ReportMetric(median(a.ttftNS), "ttft-ns")
	if len(a.itlNS) > 0 {
		slices.Sort(a.itlNS)
		b.ReportMetric(stats.Quantile(a.itlNS, 0.50), "itl-p50-ns")
		b.ReportMetric(stats.Quantile(a.itlNS, 0.95), "itl-p95-ns")
		b.ReportMetric(stats.Quantile(a.itlNS, 0.99), "itl-p99-ns")
	}
	b.ReportMetric(float64(a.peakHeap), "peak-heap-B")
	if a.peakPSRAM > 0 {
		b.ReportMetric(float64(a.peakPSRAM), "peak-psram-B")
	}
	b.ReportMetric(float64(a.freeAfter), "free-heap-after-B")
}
