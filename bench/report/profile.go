// Package report is tiny-profiler benchmark's profile of a model on a
// board: Profile uploads the model, runs warm-up and measured generations,
// reads the board's memory before, during, between and after them, and
// returns a Report that writes itself as a table, as JSON (schema
// tinyprof.profile/v1), or in the Go benchmark format that benchstat and
// package bench/compare read, named as bench.Name names go test's.
//
// Every latency comes from the board's own microsecond timestamps, so the
// serial link's latency does not pollute it; memory and energy are
// accounted by a bench.Ledger, as bench.Generate accounts them. Figures
// from a simulated board are modelled, not measured; Report.Simulated says
// so and every output format repeats it. Charts of a Report are in
// package bench/chart.
package report

import (
	"context"
	"encoding/hex"
	"fmt"
	"io"
	"math"
	"slices"
	"time"

	"golang.org/x/perf/benchmath"

	"github.com/tinyprof/tinyprof/bench"
	"github.com/tinyprof/tinyprof/bench/internal/stats"
	"github.com/tinyprof/tinyprof/device"
	"github.com/tinyprof/tinyprof/firmware"
)

// Config describes a profile run. The zero value is usable; each field's
// comment gives its default.
type Config struct {
	Prompt string // default "Once upon a time"
	Tokens int    // tokens per generation, default 64
	Runs   int    // measured generations, default 10
	Warmup int    // unmeasured generations first, default 1; -1 for none
	Seed   uint32 // generation seed; run i uses Seed+i. Default 42
	// ModelName labels the model in reports; default "model".
	ModelName string
	// Quant labels the weights' format in benchmark names, e.g. "f32", "q8_0".
	Quant string
	// Meter, if set, meters every measured run (see bench.PowerMeter);
	// without one, power comes from the board's METRICS when it reports
	// power.
	Meter bench.Meter
	// Progress, if set, is told about each step: "upload" with bytes, or
	// "run" with runs done of total.
	Progress func(step string, done, total int64)
	// SampleEvery is how often the board's memory is read while it
	// generates (device.GenerateRequest.SampleEvery): default 100 ms,
	// about one read per token batch; negative for none. A simulated
	// board at full speed usually finishes before the first read.
	SampleEvery time.Duration
	// Temperature and TopP configure sampling: temperature 0 (the
	// default) is greedy decoding, TopP 0 turns nucleus sampling off.
	// Temperature must be in [0, 2] and TopP in [0, 1].
	Temperature, TopP float64
	// Decode, if set, turns a run's token ids into text (the model file's
	// vocabulary), for Run.Text; without one runs carry ids only.
	Decode func(ids []uint32) string
}

func (c Config) withDefaults() Config {
	if c.Prompt == "" {
		c.Prompt = "Once upon a time"
	}
	if c.Tokens <= 0 {
		c.Tokens = 64
	}
	if c.Runs <= 0 {
		c.Runs = 10
	}
	if c.Warmup == 0 {
		c.Warmup = 1
	}
	if c.Warmup < 0 {
		c.Warmup = 0
	}
	if c.Seed == 0 {
		c.Seed = 42
	}
	if c.ModelName == "" {
		c.ModelName = "model"
	}
	if c.SampleEvery == 0 {
		c.SampleEvery = 100 * time.Millisecond
	}
	if c.SampleEvery < 0 {
		c.SampleEvery = 0
	}
	if c.Quant == "" {
		c.Quant = "unknown"
	}
	return c
}

// check reports settings no board could honour.
func (c Config) check() error {
	switch {
	case math.IsNaN(c.Temperature) || c.Temperature < 0 || c.Temperature > 2:
		return fmt.Errorf("profile: temperature must be between 0 (greedy) and 2, got %v", c.Temperature)
	case math.IsNaN(c.TopP) || c.TopP < 0 || c.TopP > 1:
		return fmt.Errorf("profile: top-p must be between 0 (off) and 1, got %v", c.TopP)
	}
	return nil
}

// SchemaVersion names the JSON layout of Report. It changes when a field's
// meaning changes; new fields may be added without a change.
const SchemaVersion = "tinyprof.profile/v1"

// Report is the result of Profile.
type Report struct {
	Schema    string `json:"schema"`
	Simulated bool   `json:"simulated"` // figures are modelled by a simulated board, not measured
	// Emulation is set for an emulated board (real firmware on QEMU): its
	// label, and which figures are exact.
	Emulation *Emulation `json:"emulation,omitempty"`
	Started   time.Time  `json:"started"`
	Board     Board      `json:"board"`
	Model     Model      `json:"model"`
	Config    RunConfig  `json:"config"`
	Runs      []Run      `json:"runs"`
	Summary   Summary    `json:"summary"`
	Memory    Memory     `json:"memory"`
	// Power is absent when neither a meter nor the board gave power.
	Power *PowerReport `json:"power,omitempty"`
}

// Emulation describes an emulated board's figures. QEMU runs it with
// -icount shift=0: 1 guest instruction = 1 ns of the board's clock, so
// every time the board reports is an instruction count, exact and the same
// in every run, but not a cycle count of real silicon. The tok/s and
// seconds figures are at that icount clock of 1e9 instructions per second.
type Emulation struct {
	// Label is how every figure must be labelled: "emulated: QEMU M,
	// instruction-count time, not cycle-accurate".
	Label string `json:"label"`
	// Exact lists the figures that are exact rather than estimates of a
	// real board: the instruction counts, heap and arena bytes, tokens.
	Exact []string `json:"exact"`
	// ArenaBytes is the RAM the firmware reserves for the inference
	// arena, when the host built the image (0 if unknown).
	ArenaBytes int64 `json:"arena_bytes,omitempty"`
	// InstrPerToken is the median over the runs of decode instructions
	// per token after the first.
	InstrPerToken float64 `json:"instructions_per_token"`
}

// exactFigures are the emulated board's figures that are exact.
var exactFigures = []string{"instructions per token", "prefill instructions", "decode instructions", "TTFT instructions",
	"peak heap bytes", "arena bytes", "token ids"}

// PowerReport is the power and energy of the measured runs, and where the
// figures came from.
type PowerReport struct {
	// Source is "meter …" (with how windows were found) or "board METRICS …".
	Source string `json:"source"`
	// Simulated is set when a simulated board or meter produced the figures.
	Simulated bool `json:"simulated"`
	// AverageWatts is the energy over the time metered.
	AverageWatts float64 `json:"average_watts"`
	// EnergyPerTokenJ is the energy over the tokens generated; Min and Max
	// bound it from the windows' uncertainty (a meter only).
	EnergyPerTokenJ    float64 `json:"energy_per_token_joules"`
	EnergyPerTokenMinJ float64 `json:"energy_per_token_min_joules,omitempty"`
	EnergyPerTokenMaxJ float64 `json:"energy_per_token_max_joules,omitempty"`
	// IdleWatts is the board's power idle before the runs (a meter only).
	IdleWatts float64 `json:"idle_watts,omitempty"`
	// WindowUncertainty is the largest edge uncertainty of a window, seconds.
	WindowUncertainty float64 `json:"window_uncertainty_seconds,omitempty"`
}

// Board identifies the board a report came from.
type Board struct {
	// ID names the board in the benchmark format's board line, as
	// bench.BoardID does for go test.
	ID       string `json:"id"`
	Port     string `json:"port"`
	Platform string `json:"platform"`
	Chip     string `json:"chip"`
	Firmware string `json:"firmware"`
	CPUMHz   int    `json:"cpu_mhz"`
	SRAM     int64  `json:"sram_bytes"`
	PSRAM    int64  `json:"psram_bytes"`
	Flash    int64  `json:"flash_bytes"`
}

// Model describes the uploaded model.
type Model struct {
	Name           string  `json:"name"`
	Quant          string  `json:"quant"`
	SHA256         string  `json:"sha256"`
	Bytes          int64   `json:"bytes"`
	Parameters     int64   `json:"parameters"`
	Region         string  `json:"region"` // where the board put the weights
	UploadSeconds  float64 `json:"upload_seconds"`
	UploadBytesSec float64 `json:"upload_bytes_per_second"` // host wall clock over the link
	UploadRewinds  int     `json:"upload_rewinds"`
}

// RunConfig records the generation settings.
type RunConfig struct {
	Prompt string `json:"prompt"`
	Tokens int    `json:"tokens"`
	Runs   int    `json:"runs"`
	Warmup int    `json:"warmup"`
	Seed   uint32 `json:"seed"`
	// Temperature (0: greedy) and TopP (0: off) are the sampling settings.
	Temperature float64 `json:"temperature"`
	TopP        float64 `json:"top_p"`
	// SampleEverySeconds is how often memory was read during a
	// generation; 0 when it was not.
	SampleEverySeconds float64 `json:"sample_every_seconds"`
}

// Run is one measured generation, in the board's time.
type Run struct {
	Seed            uint32    `json:"seed"`
	Tokens          int       `json:"tokens"`
	PromptTokens    int       `json:"prompt_tokens"`
	TTFTSeconds     float64   `json:"ttft_seconds"`
	PrefillSeconds  float64   `json:"prefill_seconds"`
	DecodeSeconds   float64   `json:"decode_seconds"`
	DecodeTokPerSec float64   `json:"decode_tokens_per_second"`
	ITLSeconds      []float64 `json:"inter_token_latency_seconds"` // every gap between consecutive tokens
	PeakHeap        int64     `json:"peak_heap_bytes"`
	PeakPSRAM       int64     `json:"peak_psram_bytes"`
	FreeHeapAfter   int64     `json:"free_heap_after_bytes"` // read once the run ended
	// MinFreeHeapDuring is the least free heap read during the run, of
	// SamplesDuring reads; 0 with none.
	MinFreeHeapDuring int64 `json:"min_free_heap_during_bytes,omitempty"`
	SamplesDuring     int   `json:"samples_during"`
	Retries           int   `json:"retries"`
	// Energy is the metered energy of the run, with a meter only.
	Energy *bench.Energy `json:"energy,omitempty"`
	// TokenIDs are the generated tokens, so that runs on different kinds
	// of board compare token by token; Text is them decoded, when the
	// model file has a vocabulary.
	TokenIDs []uint32 `json:"token_ids"`
	Text     string   `json:"text,omitempty"`
	// PrefillInstructions, TTFTInstructions and DecodeInstructions are
	// the board's times as guest instructions, and InstrPerToken decode
	// instructions per token after the first: an emulated board only
	// (see Emulation), to the microsecond of the protocol.
	PrefillInstructions int64   `json:"prefill_instructions,omitempty"`
	TTFTInstructions    int64   `json:"ttft_instructions,omitempty"`
	DecodeInstructions  int64   `json:"decode_instructions,omitempty"`
	InstrPerToken       float64 `json:"instructions_per_token,omitempty"`
}

// Summary aggregates the runs.
//
// Each median's interval is at level Confidence; with too few runs for
// one (benchmath needs about six at 95%) it is not Bounded.
type Summary struct {
	DecodeTokPerSec bench.Interval `json:"decode_tokens_per_second"`
	TTFTSeconds     bench.Interval `json:"ttft_seconds"`
	PrefillTokSec   bench.Interval `json:"prefill_tokens_per_second"`
	ITLP50Seconds   float64        `json:"itl_p50_seconds"`
	ITLP95Seconds   float64        `json:"itl_p95_seconds"`
	ITLP99Seconds   float64        `json:"itl_p99_seconds"`
}

// Memory is what the board reported about its memory around the runs.
type Memory struct {
	FreeHeapIdle     int64 `json:"free_heap_idle_bytes"`  // before the model was uploaded
	PSRAMFreeIdle    int64 `json:"psram_free_idle_bytes"` // before the model was uploaded
	FreeHeapBefore   int64 `json:"free_heap_before_bytes"`
	FreeHeapAfter    int64 `json:"free_heap_after_bytes"`
	MinFreeHeap      int64 `json:"min_free_heap_bytes"`
	LargestFreeBlock int64 `json:"largest_free_block_bytes"`
	PSRAMFreeBefore  int64 `json:"psram_free_before_bytes"`
	PSRAMFreeAfter   int64 `json:"psram_free_after_bytes"`
	PeakHeap         int64 `json:"peak_heap_bytes"`
	PeakPSRAM        int64 `json:"peak_psram_bytes"`
	// MinFreeHeapDuring is the least free heap read during any
	// generation, and SamplesDuring how many reads were taken then.
	MinFreeHeapDuring int64 `json:"min_free_heap_during_bytes,omitempty"`
	SamplesDuring     int   `json:"samples_during"`
	// SamplingRefused is set when the board's firmware answered a read
	// during a generation with an ERROR: it cannot be sampled then.
	SamplingRefused bool `json:"sampling_refused,omitempty"`
	// Series is every reading from the first run on, in board time: during
	// the generations (Config.SampleEvery) and after each.
	Series []Sample `json:"series"`
}

// Sample is one memory reading.
type Sample struct {
	UptimeSeconds float64 `json:"uptime_seconds"`
	FreeHeap      int64   `json:"free_heap_bytes"`
	LargestFree   int64   `json:"largest_free_block_bytes"`
	PSRAMFree     int64   `json:"psram_free_bytes"`
	// Run is the generation it belongs to, counting warm-up runs from 1;
	// During says it was read while that generation ran (before its last
	// token), not after it.
	Run    int  `json:"run"`
	During bool `json:"during_generation"`
}

func sampleOf(m *firmware.Metrics, run int, during bool) Sample {
	return Sample{UptimeSeconds: float64(m.UptimeUS) / 1e6, FreeHeap: int64(m.FreeHeap), LargestFree: int64(m.LargestFree),
		PSRAMFree: int64(m.PSRAMFree), Run: run, During: during}
}

// Profile uploads the model (size bytes from r) to dev, runs cfg.Warmup
// unmeasured and cfg.Runs measured generations, and reads the board's
// memory before, between and after. dev must have completed Hello.
func Profile(ctx context.Context, dev *device.Device, r io.ReaderAt, size int64, cfg Config) (*Report, error) {
	cfg = cfg.withDefaults()
	if err := cfg.check(); err != nil {
		return nil, err
	}
	info := dev.Info()
	if info == nil {
		return nil, fmt.Errorf("profile: call Hello on the device first")
	}
	emulated := bench.Emulated(info)
	rep := &Report{Schema: SchemaVersion, Started: time.Now().UTC(),
		Simulated: info.Capabilities.Simulated(),
		Board: Board{ID: bench.BoardID(dev), Port: dev.Name(), Platform: info.Platform, Chip: info.Chip, Firmware: info.Firmware,
			CPUMHz: int(info.CPUMHz), SRAM: int64(info.SRAM), PSRAM: int64(info.PSRAM), Flash: int64(info.Flash)},
		Config: RunConfig{Prompt: cfg.Prompt, Tokens: cfg.Tokens, Runs: cfg.Runs, Warmup: cfg.Warmup, Seed: cfg.Seed,
			Temperature: cfg.Temperature, TopP: cfg.TopP, SampleEverySeconds: cfg.SampleEvery.Seconds()},
	}
	if emulated {
		rep.Emulation = &Emulation{Label: bench.EmulatedLabel(info), Exact: slices.Clone(exactFigures)}
	}
	progress := func(step string, done, total int64) {
		if cfg.Progress != nil {
			cfg.Progress(step, done, total)
		}
	}

	before, err := dev.Metrics(ctx)
	if err != nil {
		return nil, err
	}
	load, err := dev.LoadModel(ctx, r, size, device.LoadOptions{Name: cfg.ModelName,
		Progress: func(done, total int64) { progress("upload", done, total) }})
	if err != nil {
		return nil, err
	}
	rep.Model = Model{Name: cfg.ModelName, Quant: cfg.Quant, SHA256: hex.EncodeToString(load.SHA256[:]), Bytes: size,
		Parameters: load.Parameters, Region: load.Region, UploadSeconds: load.Duration.Seconds(), UploadRewinds: load.Rewinds}
	if s := load.Duration.Seconds(); s > 0 {
		rep.Model.UploadBytesSec = float64(size-load.Resumed) / s
	}
	loaded, err := dev.Metrics(ctx)
	if err != nil {
		return nil, err
	}
	rep.Memory.FreeHeapIdle, rep.Memory.PSRAMFreeIdle = int64(before.FreeHeap), int64(before.PSRAMFree)
	rep.Memory.FreeHeapBefore, rep.Memory.PSRAMFreeBefore = int64(loaded.FreeHeap), int64(loaded.PSRAMFree)

	total := int64(cfg.Warmup + cfg.Runs)
	ledger := bench.NewLedger(dev, loaded)
	for i := 0; i < cfg.Warmup+cfg.Runs; i++ {
		seed := cfg.Seed + uint32(i)
		meter := cfg.Meter
		if i < cfg.Warmup {
			meter = nil
		}
		e, err := ledger.Generate(ctx, device.GenerateRequest{Prompt: cfg.Prompt, MaxTokens: cfg.Tokens, Seed: seed,
			Temperature: cfg.Temperature, TopP: cfg.TopP, SampleEvery: cfg.SampleEvery}, meter)
		if err != nil {
			return nil, fmt.Errorf("run %d of %d: %w", i+1, total, err)
		}
		g := e.Generation
		run := runOf(seed, g, emulated)
		if cfg.Decode != nil {
			run.Text = cfg.Decode(run.TokenIDs)
		}
		for k := range e.Readings {
			r := &e.Readings[k]
			during := e.During(k)
			rep.Memory.Series = append(rep.Memory.Series, sampleOf(r, i+1, during))
			if during {
				run.SamplesDuring++
				if run.MinFreeHeapDuring == 0 || int64(r.FreeHeap) < run.MinFreeHeapDuring {
					run.MinFreeHeapDuring = int64(r.FreeHeap)
				}
			}
		}
		rep.Memory.SamplingRefused = rep.Memory.SamplingRefused || g.SamplingRefused
		progress("run", int64(i+1), total)
		if i < cfg.Warmup {
			continue
		}
		run.FreeHeapAfter = int64(e.After().FreeHeap)
		run.Energy = e.Energy
		ledger.Count(e)
		rep.Runs = append(rep.Runs, run)
	}
	if t, ok := ledger.Energy(); ok {
		rep.Power = powerReport(t, bench.PowerSource(cfg.Meter, info), rep.Simulated)
	}
	after, err := dev.Metrics(ctx)
	if err != nil {
		return nil, err
	}
	rep.Memory.FreeHeapAfter, rep.Memory.PSRAMFreeAfter = int64(after.FreeHeap), int64(after.PSRAMFree)
	rep.Memory.MinFreeHeap, rep.Memory.LargestFreeBlock = int64(after.MinFreeHeap), int64(after.LargestFree)
	for _, r := range rep.Runs {
		rep.Memory.PeakHeap = max(rep.Memory.PeakHeap, r.PeakHeap)
		rep.Memory.PeakPSRAM = max(rep.Memory.PeakPSRAM, r.PeakPSRAM)
	}
	for _, s := range rep.Memory.Series {
		if s.During {
			rep.Memory.SamplesDuring++
			if rep.Memory.MinFreeHeapDuring == 0 || s.FreeHeap < rep.Memory.MinFreeHeapDuring {
				rep.Memory.MinFreeHeapDuring = s.FreeHeap
			}
		}
	}
	rep.Summary = summarize(rep.Runs)
	if rep.Emulation != nil {
		var ipt []float64
		for _, r := range rep.Runs {
			if r.InstrPerToken > 0 {
				ipt = append(ipt, r.InstrPerToken)
			}
		}
		rep.Emulation.InstrPerToken = estimate(ipt).Center
	}
	return rep, nil
}

// powerReport is the PowerReport of a ledger's totals.
func powerReport(t bench.EnergyTotal, source string, simulatedBoard bool) *PowerReport {
	r := &PowerReport{Source: source, Simulated: simulatedBoard || t.Simulated,
		AverageWatts: t.Watts(), EnergyPerTokenJ: t.PerToken()}
	if t.Metered {
		r.EnergyPerTokenMinJ, r.EnergyPerTokenMaxJ = t.JoulesMin/float64(t.Tokens), t.JoulesMax/float64(t.Tokens)
		r.WindowUncertainty = t.Uncertainty
		r.IdleWatts = t.IdleWatts
	}
	return r
}

func runOf(seed uint32, g *device.Generation, emulated bool) Run {
	s := g.Summary
	r := Run{Seed: seed, Tokens: len(g.Tokens), PromptTokens: int(s.PromptTokens),
		TTFTSeconds: us(s.TTFTUS), PrefillSeconds: us(s.PrefillUS), DecodeSeconds: us(s.DecodeUS),
		DecodeTokPerSec: g.DecodeTokensPerSecond(), PeakHeap: int64(s.PeakHeap), PeakPSRAM: int64(s.PeakPSRAM), Retries: g.Retries,
		TokenIDs: make([]uint32, len(g.Tokens))}
	for i, t := range g.Tokens {
		r.TokenIDs[i] = t.ID
	}
	if emulated {
		// 1 µs of the board's clock is 1000 guest instructions (-icount
		// shift=0); see bench.InstructionsPerToken.
		r.PrefillInstructions, r.TTFTInstructions, r.DecodeInstructions = int64(s.PrefillUS)*1e3, int64(s.TTFTUS)*1e3, int64(s.DecodeUS)*1e3
		r.InstrPerToken = bench.InstructionsPerToken(uint64(s.DecodeUS), len(g.Tokens)-1)
	}
	for _, d := range g.InterTokenLatencies() {
		r.ITLSeconds = append(r.ITLSeconds, d.Seconds())
	}
	return r
}

func us(v uint32) float64 { return float64(v) / 1e6 }

// Confidence is the level of every interval in a Summary.
const Confidence = 0.95

func summarize(runs []Run) Summary {
	var tps, ttft, prefill, itl []float64
	for _, r := range runs {
		tps = append(tps, r.DecodeTokPerSec)
		ttft = append(ttft, r.TTFTSeconds)
		if r.PrefillSeconds > 0 && r.PromptTokens > 1 {
			prefill = append(prefill, float64(r.PromptTokens-1)/r.PrefillSeconds)
		}
		itl = append(itl, r.ITLSeconds...)
	}
	slices.Sort(itl)
	return Summary{DecodeTokPerSec: estimate(tps), TTFTSeconds: estimate(ttft), PrefillTokSec: estimate(prefill),
		ITLP50Seconds: stats.Quantile(itl, 0.50), ITLP95Seconds: stats.Quantile(itl, 0.95), ITLP99Seconds: stats.Quantile(itl, 0.99)}
}

// estimate is the median with a distribution-free confidence interval,
// as benchstat computes it (benchmath.AssumeNothing).
func estimate(v []float64) bench.Interval {
	if len(v) == 0 {
		return bench.Interval{}
	}
	s := benchmath.AssumeNothing.Summary(benchmath.NewSample(v, &benchmath.DefaultThresholds), Confidence)
	iv := bench.Interval{Center: s.Center, Lo: math.Inf(-1), Hi: math.Inf(1), Confidence: Confidence, N: len(v)}
	if finite(s.Lo) && finite(s.Hi) {
		iv.Lo, iv.Hi, iv.Confidence = s.Lo, s.Hi, s.Confidence
	}
	return iv
}

func finite(f float64) bool { return !math.IsInf(f, 0) && !math.IsNaN(f) }
