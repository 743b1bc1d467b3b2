package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/sys/unix"

	"github.com/tinyprof/tinyprof/bench"
	"github.com/tinyprof/tinyprof/bench/chart"
	"github.com/tinyprof/tinyprof/bench/compare"
	"github.com/tinyprof/tinyprof/bench/report"
	"github.com/tinyprof/tinyprof/device"
	"github.com/tinyprof/tinyprof/firmware"
	"github.com/tinyprof/tinyprof/fixtures"
	"github.com/tinyprof/tinyprof/internal/limitfile"
	"github.com/tinyprof/tinyprof/journal"
	"github.com/tinyprof/tinyprof/lab"
	"github.com/tinyprof/tinyprof/model"
	"github.com/tinyprof/tinyprof/plan"
	"github.com/tinyprof/tinyprof/platform"
	"github.com/tinyprof/tinyprof/power"
	"github.com/tinyprof/tinyprof/power/meters"
	"github.com/tinyprof/tinyprof/serialport"
)

func newBenchmark() *cobra.Command {
	var t target
	var cfg report.Config
	var modelPath, tokenizerPath, format, output, baseline, plotDir string
	var asJSON bool
	var gates gateFlags
	var meterKind, meterPort, simMeter, protocol string
	var mlperf eembcRun
	var sampleEvery time.Duration
	var pf placeFlags
	var planPath string
	c := &cobra.Command{
		Use:   "benchmark",
		Short: "Profile a model on a board: time to first token, tokens/s, heap and PSRAM",
		Long: `benchmark uploads a model to a board, runs warm-up and measured generations,
and reports decode speed, time to first token, inter-token latency percentiles
and memory, all from the board's own timestamps. Memory is read before and
after each run and, every --sample-every, while the board generates, when the
KV cache and activations are held (a simulated board runs as fast as the host
can unless --sim-time-scale slows it, so reads rarely land inside its
generations).

With no --device, --sim or --emulate and no board attached, it uses a
simulated esp32s3 and a built-in stories260K-class model, and says so: figures
from a simulated board are modelled, not measured.

With --emulate MACHINE it runs tinyprof's firmware on a QEMU machine (see the
emulate command); without --model it uploads a smaller built-in llama2.c model
(` + emuModelName + `), since the emulated UART carries about 9 KB/s. Its times
are instruction counts (1 guest instruction = 1 ns of the board's clock), exact
and repeatable but not cycle-accurate; the report labels them so and adds
instructions per token.

--temperature 0 (the default) decodes greedily; above 0 the board samples, with
nucleus sampling when --top-p is set. The JSON profile carries each run's token
ids, and their text when the model has a vocabulary (a GGUF file's
tokenizer.ggml.tokens, or a llama2.c tokenizer.bin given with --tokenizer), so
that runs on different kinds of board compare token by token.

With --baseline FILE (a --format bench output of an earlier run) it then
compares this run with it as the compare command does, and exits with status 3
when the gate trips; the default gate is the runbook's alert,
'p95 inter-token latency > 2x'. With --plot DIR it writes a per-token latency
histogram and a heap-over-time chart there, as SVG and PNG.

Before the upload the model is placed with the same code analyze-model and
the simulated board use (--weights-in, --ctx, --runtime shape it; see
analyze-model --help). A model that does not fit a simulated board is refused
there, with analyze-model's verdict, and exit status 5; on a real board it is a
warning, since its firmware has the last word. --cpu-mhz and --cores run a
simulated board below its catalogue clock or on fewer cores.

With --protocol eembc the board runs MLPerf Tiny (EEMBC EnergyRunner)
firmware instead of the tinyprof agent: benchmark runs five windows of at
least ten seconds by the board's clock and reports the median throughput and
its inverse, the latency, as MLPerf Tiny scores them.`,
		Example: `  tiny-profiler benchmark
  tiny-profiler benchmark --device /dev/ttyUSB0 --model stories260K.bin --runs 20
  tiny-profiler benchmark --sim rp2040 --format bench > new.txt && benchstat old.txt new.txt
  tiny-profiler benchmark --sim esp32s3 --model stories15M-q4_0.gguf --weights-in flash --ctx 128 --cpu-mhz 160
  tiny-profiler benchmark --device /dev/ttyUSB0 --baseline old.txt --fail-on 'p95 inter-token latency > 2x, tokens/s < -10%'
  tiny-profiler benchmark --plot plots/
  tiny-profiler benchmark --sim esp32s3 --sim-meter ppk2 --tokens 16
  tiny-profiler benchmark --sim esp32s3 --sim-time-scale 1 --runs 3 --plot plots/
  tiny-profiler benchmark --device /dev/ttyUSB0 --meter ppk2 --meter-port /dev/ttyACM1
  tiny-profiler benchmark --device /dev/ttyACM0 --protocol eembc
  tiny-profiler benchmark --emulate mps2-an386 --tokens 16 --json
  tiny-profiler benchmark --emulate mps2-an500 --model stories260K.bin --tokenizer tokenizer.bin --temperature 0.8 --top-p 0.9`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			if asJSON {
				format = "json"
			}
			switch format {
			case "table", "json", "bench":
			default:
				return usageError{fmt.Errorf("--format must be table, json or bench, not %q", format)}
			}
			eembcFlags := format != "bench" && baseline == "" && modelPath == "" && meterKind == "" && simMeter == ""
			switch protocol {
			case "tinyprof":
			case "eembc":
				if !eembcFlags {
					return usageError{fmt.Errorf("--protocol eembc takes the model the firmware was built with and reports table or JSON; drop --format bench, --baseline, --model and the meter flags")}
				}
				return mlperf.run(c, &t, format)
			default:
				return usageError{fmt.Errorf("--protocol must be tinyprof or eembc, not %q", protocol)}
			}
			if err := checkRunShape(&cfg); err != nil {
				return err
			}
			if err := checkSampling(cfg.Temperature, cfg.TopP, c.Flags().Changed("top-p")); err != nil {
				return err
			}
			switch {
			case sampleEvery < 0:
				return usageError{fmt.Errorf("--sample-every must be 0 (no reads during generations) or positive, got %v", sampleEvery)}
			case sampleEvery == 0:
				cfg.SampleEvery = -1
			default:
				cfg.SampleEvery = max(sampleEvery, 5*time.Millisecond) // not a flood on a 115200-baud line
			}
			if baseline == "" && c.Flags().Changed("fail-on") {
				return usageError{fmt.Errorf("--fail-on needs --baseline FILE to compare with (or use the compare command)")}
			}
			if baseline != "" && gates.failOn == "" {
				gates.failOn = runbookGate
			}
			gateRules, err := gates.parse()
			if err != nil {
				return err
			}
			var base []byte
			if baseline != "" {
				// Read it first: a missing baseline should not cost a run.
				if base, err = limitfile.ReadFile(baseline, "the baseline", maxBaseline); err != nil {
					return err
				}
			}
			var planned *plan.File
			if planPath != "" {
				if planned, err = usePlan(planPath, &t, &modelPath, &pf); err != nil {
					return err
				}
				if !c.Flags().Changed("tokens") && planned.Tokens > 0 {
					cfg.Tokens = min(planned.Tokens, 65535)
				}
			}
			note := ""
			if t.device == "" && t.sim == "" && t.emulate == "" {
				t.sim, note = pickDefault()
			}
			fitCfg, err := t.placement(&pf)
			if err != nil {
				return err
			}
			mf, err := loadModel(modelPath, t.emulate != "")
			if err != nil {
				return err
			}
			defer mf.close()
			cfg.ModelName, cfg.Quant = mf.name, mf.quant
			v, err := mf.vocab(tokenizerPath)
			if err != nil {
				return err
			}
			if v != nil {
				cfg.Decode = v.decode
			}
			if note != "" {
				fmt.Fprintln(noteWriter(c, format), note)
			}

			switch {
			case simMeter != "" && meterKind != "":
				return usageError{fmt.Errorf("--meter and --sim-meter are exclusive: name one meter")}
			case simMeter != "" && !knownMeter(simMeter):
				return usageError{fmt.Errorf("--sim-meter must be %s, not %q", meters.Choices(), simMeter)}
			case meterKind != "" && !knownMeter(meterKind):
				return usageError{fmt.Errorf("--meter must be %s, not %q", meters.Choices(), meterKind)}
			case meterKind != "" && meterPort == "":
				return usageError{fmt.Errorf("--meter %s needs --meter-port PATH (the meter's serial port)", meterKind)}
			case meterKind == "" && meterPort != "":
				return usageError{fmt.Errorf("--meter-port needs --meter ppk2|lpm01a")}
			}

			conn, err := t.connect(c.Context(), device.Options{})
			if be := (*lab.EEMBCBoardError)(nil); errors.As(err, &be) && be.ID == "" && eembcFlags && !c.Flags().Changed("protocol") {
				// Safe to switch: nothing but name% was sent, and no flag
				// asks for what only the tinyprof agent does.
				fmt.Fprintf(noteWriter(c, format), "%s runs the EEMBC EnergyRunner firmware: running MLPerf Tiny's performance test, as --protocol eembc does\n", be.Port)
				return mlperf.run(c, &t, format)
			}
			if err != nil {
				return err
			}
			defer conn.Close()
			if conn.Emu != nil && (simMeter != "" || meterKind != "") {
				return usageError{fmt.Errorf("an emulated board draws no power to meter: drop --meter and --sim-meter")}
			}
			if simMeter != "" || meterKind != "" {
				var m power.Meter
				var closeMeter func()
				if simMeter != "" {
					if conn.Sim == nil {
						return usageError{fmt.Errorf("--sim-meter wires a simulated meter to a simulated board: use --sim PLATFORM, or --meter with a real board")}
					}
					m, closeMeter, err = lab.SimMeter(c.Context(), conn.Sim, simMeter, 0)
				} else {
					m, err = meters.Open(c.Context(), meterKind, meterPort, meters.Options{})
					closeMeter = func() {
						if m != nil {
							m.Close()
						}
					}
				}
				if err != nil {
					return fmt.Errorf("open the power meter: %w", err)
				}
				defer closeMeter()
				cfg.Meter = bench.NewPowerMeter(m, conn.Device, bench.PowerOptions{})
			}
			if err := checkCapacity(mf, conn.Device.Info()); err != nil {
				return err
			}
			if err := preflight(c.ErrOrStderr(), mf, conn.Device.Info().Platform, fitCfg, conn.Sim != nil); err != nil {
				return err
			}
			if planned != nil {
				notePlan(c.ErrOrStderr(), planned, conn.Device.Info())
			}
			prog := newProgress(c.ErrOrStderr())
			cfg.Progress = func(step string, done, total int64) {
				if step == "upload" {
					prog.update("uploading model", done, total, "bytes")
				} else {
					prog.update("generating", done, total, "runs")
				}
			}
			rep, err := report.Profile(c.Context(), conn.Device, mf.r, mf.size, cfg)
			prog.done()
			if err != nil {
				return err
			}
			if conn.Emu != nil && rep.Emulation != nil {
				rep.Emulation.ArenaBytes = int64(conn.Emu.Firmware.Arena)
			}
			// The runbook's inference_latency_p95 is judged from every
			// benchmark, not only from health-check --comprehensive.
			if p95 := rep.Summary.ITLP95Seconds * 1e3; p95 > 0 {
				record(c, journal.Event{Kind: journal.KindInference, Board: boardIdentity(conn.Entry, flagValue(c, "inventory")),
					Message: fmt.Sprintf("benchmark: %d runs, p95 inter-token latency %.1f ms", len(rep.Runs), p95),
					Details: map[string]any{"p95_ms": p95, "runs": len(rep.Runs), "source": "benchmark",
						"simulated": rep.Simulated, "emulated": rep.Emulation != nil}})
			}
			write := func(w io.Writer) error {
				switch format {
				case "json":
					return rep.WriteJSON(w)
				case "bench":
					return rep.WriteBench(w)
				}
				return rep.WriteTable(w)
			}
			if output != "" {
				if err := writeFileAtomic(output, write); err != nil {
					return err
				}
				fmt.Fprintf(c.ErrOrStderr(), "wrote %s\n", output)
			} else if err := write(c.OutOrStdout()); err != nil {
				return err
			}
			if plotDir != "" {
				paths, err := chart.Write(plotDir, rep)
				if err != nil {
					return err
				}
				fmt.Fprintf(c.ErrOrStderr(), "wrote %s\n", strings.Join(paths, ", "))
			}
			if baseline == "" {
				return nil
			}
			var cur bytes.Buffer
			if err := rep.WriteBench(&cur); err != nil {
				return err
			}
			cmp, err := compare.Compare(bytes.NewReader(base), &cur, baseline, "this run", gates.options())
			if err != nil {
				return err
			}
			w := c.OutOrStdout()
			if format != "table" || output != "" {
				w = c.ErrOrStderr() // keep stdout to the report's own format
			}
			fmt.Fprintln(w)
			return writeComparison(w, cmp, gateRules)
		},
	}
	t.flags(c)
	c.Flags().StringVar(&protocol, "protocol", "tinyprof", "what the board's firmware speaks: tinyprof (the agent) or eembc (MLPerf Tiny EnergyRunner firmware)")
	mlperf.flags(c)
	c.Flags().StringVar(&meterKind, "meter", "", "meter energy per token with a power meter: ppk2 or lpm01a (board GPIO to PPK2 D0 / LPM01A D7; without the wire, clock alignment)")
	c.Flags().StringVar(&meterPort, "meter-port", "", "the power meter's serial port, with --meter")
	c.Flags().StringVar(&simMeter, "sim-meter", "", "wire a simulated ppk2 or lpm01a meter to the simulated board (figures are modelled, not measured)")
	c.Flags().StringVar(&modelPath, "model", "", "model file to upload (default: the built-in stories260K-class llama2.c model; with --emulate, a smaller built-in one)")
	c.Flags().StringVar(&tokenizerPath, "tokenizer", "", "llama2.c tokenizer.bin, to decode a llama2.c model's tokens to text in --json (GGUF files carry their own)")
	c.Flags().Float64Var(&cfg.Temperature, "temperature", 0, "sampling temperature, 0 to 2 (0: greedy)")
	c.Flags().Float64Var(&cfg.TopP, "top-p", 0, "nucleus sampling: keep the smallest set of tokens whose probability reaches this, 0 to 1 (0: off); needs --temperature above 0")
	c.Flags().IntVar(&cfg.Tokens, "tokens", 64, "tokens to generate per run")
	c.Flags().IntVar(&cfg.Runs, "runs", 10, "measured runs")
	c.Flags().IntVar(&cfg.Warmup, "warmup", 1, "unmeasured runs first (0 for none)")
	c.Flags().StringVar(&cfg.Prompt, "prompt", "Once upon a time", "prompt (at most 255 bytes)")
	c.Flags().Uint32Var(&cfg.Seed, "seed", 42, "seed of the first run; run i uses seed+i")
	c.Flags().StringVar(&format, "format", "table", "output: table, json, or bench (Go benchmark format for benchstat)")
	c.Flags().BoolVar(&asJSON, "json", false, "same as --format json")
	c.Flags().StringVar(&output, "output", "", "write the report to this file (atomically) instead of stdout")
	c.Flags().StringVar(&baseline, "baseline", "", "compare with this earlier --format bench output and gate on it (see --fail-on)")
	c.Flags().StringVar(&baseline, "baseline-comparison", "", "same as --baseline (the runbook's spelling)")
	c.Flags().StringVar(&plotDir, "plot", "", "write latency and heap charts (SVG and PNG) into this directory")
	c.Flags().StringVar(&planPath, "plan", "", "run the configuration a plan --apply wrote (OUT.plan.json): its model, on a simulated board of its platform unless --device or --emulate names one")
	c.Flags().DurationVar(&sampleEvery, "sample-every", 100*time.Millisecond, "read the board's memory this often while it generates (0: only between runs)")
	pf.flags(c)
	gates.flags(c, "")
	return c
}

// runbookGate is the incident runbook's alert, "inference latency p95 >
// 2x baseline", as a gate: the default of benchmark --baseline.
const runbookGate = "p95 inter-token latency > 2x"

// noteWriter is where the simulated-board note goes: the first line of the
// table, or stderr when stdout carries JSON or benchmark lines.
func noteWriter(c *cobra.Command, format string) io.Writer {
	if format == "table" {
		return c.OutOrStdout()
	}
	return c.ErrOrStderr()
}

// pickDefault chooses the simulated board when no board is named. A board
// that is attached is never used without being named: the user says which.
func pickDefault() (simPlatform, note string) {
	note = "no device named: using a simulated esp32s3 (figures are modelled, not measured)"
	if ports, err := serialport.Detect(); err == nil {
		var known []string
		for _, p := range ports {
			if len(p.Platforms) > 0 {
				known = append(known, p.Path)
			}
		}
		if len(known) > 0 {
			note += "; boards attached at " + strings.Join(known, ", ") + ": name one with --device to measure it"
		}
	}
	return "esp32s3", note
}

// modelFile is the model a benchmark uploads, analysed once.
type modelFile struct {
	r           io.ReaderAt // the model's bytes, read as they are uploaded
	size        int64
	close       func() error
	name, quant string
	info        *model.Info // nil if analysis failed
	infoErr     error
}

// emuModel is the built-in model of benchmark --emulate: a llama2.c
// float32 model of the stories260K architecture (grouped-query attention,
// shared classifier), shrunk so that its 30 KB upload over the emulated
// UART (about 9 KB/s) takes seconds, where stories260K's megabyte would
// take two minutes. Pass --model stories260k.bin for the full one.
var emuModel = fixtures.Llama2CConfig{
	Llama2CConfig: model.Llama2CConfig{Dim: 16, HiddenDim: 48, Layers: 2, Heads: 2, KVHeads: 1, Vocab: 64, SeqLen: 64, Shared: true},
}

// emuModelName names emuModel in reports.
const emuModelName = "tiny-emu"

// checkSampling checks --temperature and --top-p.
func checkSampling(temperature, topP float64, topPSet bool) error {
	switch {
	case math.IsNaN(temperature) || temperature < 0 || temperature > 2:
		return usageError{fmt.Errorf("--temperature must be between 0 (greedy) and 2, got %v", temperature)}
	case math.IsNaN(topP) || topP < 0 || topP > 1:
		return usageError{fmt.Errorf("--top-p must be between 0 (off) and 1, got %v", topP)}
	case topPSet && topP > 0 && temperature == 0:
		return usageError{fmt.Errorf("--top-p %v needs --temperature above 0: temperature 0 is greedy and samples nothing", topP)}
	}
	return nil
}

// vocab returns the model's vocabulary, to decode tokens to text: from the
// llama2.c tokenizer at tokenizerPath, or from a GGUF file's metadata; nil
// when there is none.
func (m *modelFile) vocab(tokenizerPath string) (vocab, error) {
	if m.info == nil {
		if tokenizerPath != "" {
			return nil, usageError{fmt.Errorf("--tokenizer: the model could not be analysed (%v), so its vocabulary size is unknown", m.infoErr)}
		}
		return nil, nil
	}
	if tokenizerPath != "" {
		if m.info.Format != "llama2c" {
			return nil, usageError{fmt.Errorf("--tokenizer is for llama2.c models; this %s file carries its own vocabulary", m.info.Format)}
		}
		return llama2cVocab(tokenizerPath, m.info.Vocab)
	}
	if m.info.Format != "gguf" {
		return nil, nil
	}
	head, err := io.ReadAll(io.NewSectionReader(m.r, 0, min(m.size, maxVocabPrefix)))
	if err != nil {
		return nil, fmt.Errorf("read the model's vocabulary: %w", err)
	}
	v, err := ggufVocab(head)
	if errors.Is(err, errNoVocab) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read the model's vocabulary: %w", err)
	}
	return v, nil
}

// loadModel reads the model file, or builds the built-in one (a smaller
// one for an emulated board), and analyses its header.
func loadModel(path string, emulated bool) (*modelFile, error) {
	m := &modelFile{name: "stories260k", quant: "unknown", close: func() error { return nil }}
	var data []byte
	switch {
	case path == "" && emulated:
		data, m.name = fixtures.Llama2C(emuModel, fixtures.Seed), emuModelName
	case path == "":
		data = fixtures.Llama2C(fixtures.Stories260K, fixtures.Seed)
	default:
		f, size, err := openModel(path)
		if err != nil {
			return nil, err
		}
		m.r, m.size, m.close = f, size, f.Close
		m.name = strings.TrimSuffix(filepath.Base(path), filepath.Ext(path))
	}
	if data != nil {
		m.r, m.size = bytes.NewReader(data), int64(len(data))
	}
	m.info, m.infoErr = model.AnalyzeReader(m.r, m.size)
	if m.info != nil {
		m.quant = quantLabel(m.info)
	}
	return m, nil
}

// maxModel is the largest model the protocol can upload (its size is a
// 32-bit field); a board's memory is the tighter bound, checked once the
// board is connected (checkCapacity).
const maxModel = 1<<32 - 1

// maxBaseline bounds --baseline: a Go benchmark-format report is text of a
// few kilobytes per run.
const maxBaseline = 32 << 20

// openModel opens the model file for reading as it is uploaded, after
// checking that it is a regular file of a size the protocol can carry:
// /dev/zero, a FIFO or a 5 GB file is refused before a byte is read. It
// opens without blocking, so a FIFO cannot hang the command.
func openModel(path string) (*os.File, int64, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, 0, fmt.Errorf("read model: %w", err)
	}
	st, err := f.Stat()
	switch {
	case err != nil:
		f.Close()
		return nil, 0, fmt.Errorf("read model: %w", err)
	case !st.Mode().IsRegular():
		f.Close()
		return nil, 0, usageError{fmt.Errorf("--model %s is not a regular file (%v): name the model file itself", path, st.Mode().Type())}
	case st.Size() == 0:
		f.Close()
		return nil, 0, usageError{fmt.Errorf("--model %s is empty", path)}
	case st.Size() > maxModel:
		f.Close()
		return nil, 0, usageError{fmt.Errorf("--model %s is %d bytes: over the protocol's %d-byte limit, and far beyond any microcontroller", path, st.Size(), int64(maxModel))}
	}
	return f, st.Size(), nil
}

// checkCapacity refuses, before the upload reads it, a model larger than
// all of the board's memory together: no loader could place it.
func checkCapacity(m *modelFile, info *firmware.Info) error {
	if info == nil {
		return nil
	}
	total := int64(info.SRAM) + int64(info.PSRAM) + int64(info.Flash)
	if total > 0 && m.size > total {
		return usageError{fmt.Errorf("the model is %d bytes, more than all of the %s board's memory (%d bytes of SRAM, PSRAM and flash together): pick a smaller model", m.size, info.Platform, total)}
	}
	return nil
}

// maxPrompt is the protocol's limit on a GENERATE request's prompt.
const maxPrompt = 255

// maxVocabPrefix bounds how much of a GGUF file is read for its
// vocabulary, which sits in the metadata ahead of the tensors: a few
// megabytes even for large vocabularies.
const maxVocabPrefix = 64 << 20

// checkRunShape validates the counts and the prompt of a benchmark before
// anything is uploaded, and makes --warmup 0 mean none (the report's
// configuration reads 0 as its default of one warm-up, and -1 as none).
func checkRunShape(cfg *report.Config) error {
	switch {
	case cfg.Tokens < 1 || cfg.Tokens > 65535:
		return usageError{fmt.Errorf("--tokens must be between 1 and 65535, got %d", cfg.Tokens)}
	case cfg.Runs < 1:
		return usageError{fmt.Errorf("--runs must be at least 1, got %d", cfg.Runs)}
	case cfg.Warmup < -1:
		return usageError{fmt.Errorf("--warmup must be 0 (none) or more, got %d", cfg.Warmup)}
	case len(cfg.Prompt) > maxPrompt:
		return usageError{fmt.Errorf("--prompt is %d bytes; the board takes at most %d", len(cfg.Prompt), maxPrompt)}
	case cfg.Prompt == "":
		return usageError{fmt.Errorf("--prompt is empty: the board needs at least one byte to start from")}
	}
	if cfg.Warmup == 0 {
		cfg.Warmup = -1
	}
	return nil
}

// quantLabel names the dominant weight type of a model.
func quantLabel(info *model.Info) string {
	if info.Format == "llama2c" && info.Version == 2 {
		return fmt.Sprintf("q8_g%d", info.GroupSize)
	}
	return strings.ToLower(info.DominantType().String())
}

// placement checks the placement flags against the board the flags name
// and configures a simulated board with them. A simulated board takes
// them all; a real board's firmware decides its own placement and clock,
// so --weights-in and --ctx only shape the pre-flight check and
// --cpu-mhz/--cores are refused; an emulated board runs tinyprof's
// firmware as built, so all four are refused.
func (t *target) placement(pf *placeFlags) (model.FitConfig, error) {
	cfg, err := pf.fitConfig()
	if err != nil {
		return cfg, err
	}
	t.simBoard.Fit = cfg // also for an inventory id that names a simulated board
	switch {
	case t.emulate != "" && pf.set():
		return cfg, usageError{fmt.Errorf("an emulated board runs tinyprof's firmware as built, which places the model itself: drop --weights-in, --ctx, --runtime, --cpu-mhz and --cores")}
	case t.device != "" && pf.clockSet():
		return cfg, usageError{fmt.Errorf("--cpu-mhz and --cores configure a simulated board (--sim); a real board runs at the clock its firmware sets")}
	case t.sim != "":
		p, err := platform.Lookup(t.sim)
		if err != nil {
			return cfg, usageError{err}
		}
		if _, err := pf.platform(p); err != nil {
			return cfg, err
		}
		t.simBoard.CPUMHz, t.simBoard.Cores = pf.cpuMHz, pf.cores
	}
	return cfg, nil
}

// preflight places the model with the one placement model (model.Fit)
// before a byte is uploaded. A simulated board places it with the same
// call, so a model that does not fit is refused here, with the verdict
// analyze-model gives, and exit status 5; a real board's firmware has the
// last word, so for it this is a warning.
func preflight(w io.Writer, m *modelFile, plat string, cfg model.FitConfig, simulated bool) error {
	if m.infoErr != nil {
		fmt.Fprintf(w, "warning: cannot analyse the model (%v); uploading it anyway\n", m.infoErr)
		return nil
	}
	p, err := platform.Lookup(plat)
	if err != nil {
		return nil // a board of a platform the catalogue lacks: nothing to check against
	}
	_, err = model.Fit(m.info, p, cfg)
	var fe *model.FitError
	switch {
	case err == nil:
		return nil
	case !errors.As(err, &fe):
		return usageError{err}
	case simulated:
		return fmt.Errorf("%s does not fit the simulated %s: %v (%w)", m.name, p.Name, err, exitError(exitNoFit))
	}
	fmt.Fprintf(w, "warning: %s on %s: %v\n", m.name, p.Name, err)
	return nil
}
