package report

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"runtime"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/tinyprof/tinyprof/bench"
	"github.com/tinyprof/tinyprof/bench/internal/stats"
)

// WriteJSON writes r as indented JSON.
func (r *Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// WriteBench writes r in the Go benchmark format, one result line per
// measured run, so that benchstat compares two reports directly and
// package bench/compare reads them. Its results are named
// "BenchmarkGenerate/" + bench.Name(…), as a go test BenchmarkGenerate
// names its sub-benchmarks. The board, firmware and model are
// configuration lines (bench.WriteConfig): results from different boards
// never mix silently. The units are those of bench.Generate (see
// bench.Units): ns/op is the board's time for one generation, TTFT +
// decode.
func (r *Report) WriteBench(w io.Writer) error {
	var b strings.Builder
	board := r.Board.ID
	if board == "" {
		board = r.Board.Port
	}
	// The host's lines, as go test writes them, so that benchstat does not
	// split a CLI file from a go test file run on the same host.
	fmt.Fprintf(&b, "goos: %s\ngoarch: %s\n", runtime.GOOS, runtime.GOARCH)
	cfg := map[string]string{"board": board, "platform": r.Board.Platform, "chip": r.Board.Chip,
		"firmware": r.Board.Firmware, "model": r.Model.Name, "model-sha256": r.Model.SHA256, "quant": r.Model.Quant,
		"weights-in": r.Model.Region, "prompt": r.Config.Prompt, "simulated": fmt.Sprint(r.Simulated), "emulated": "false", "power-source": "none"}
	if r.Emulation != nil {
		cfg["emulated"] = strings.TrimPrefix(r.Emulation.Label, "emulated: ")
	}
	if r.Power != nil {
		cfg["power-source"] = r.Power.Source
	}
	if err := bench.WriteConfig(&b, cfg); err != nil {
		return err
	}
	name := "BenchmarkGenerate/" + bench.Name(r.Board.Platform, r.Model.Name, r.Model.Quant, r.Config.Tokens)
	for _, run := range r.Runs {
		secs := run.TTFTSeconds + run.DecodeSeconds
		fmt.Fprintf(&b, "%s\t1\t%.0f ns/op\t%.4g tok/s", name, secs*1e9, run.DecodeTokPerSec)
		if run.PrefillSeconds > 0 && run.PromptTokens > 1 {
			fmt.Fprintf(&b, "\t%.4g prefill-tok/s", float64(run.PromptTokens-1)/run.PrefillSeconds)
		}
		if r.Emulation != nil && run.InstrPerToken > 0 {
			fmt.Fprintf(&b, "\t%.0f instr/tok", run.InstrPerToken)
		}
		if r.Emulation != nil && run.PrefillInstructions > 0 && run.PromptTokens > 1 {
			fmt.Fprintf(&b, "\t%.0f prefill-instr/tok", float64(run.PrefillInstructions)/float64(run.PromptTokens-1))
		}
		fmt.Fprintf(&b, "\t%.0f ttft-ns", run.TTFTSeconds*1e9)
		if len(run.ITLSeconds) > 0 {
			fmt.Fprintf(&b, "\t%.0f itl-p50-ns\t%.0f itl-p95-ns\t%.0f itl-p99-ns",
				quantileOf(run.ITLSeconds, 0.5)*1e9, quantileOf(run.ITLSeconds, 0.95)*1e9, quantileOf(run.ITLSeconds, 0.99)*1e9)
		}
		fmt.Fprintf(&b, "\t%d peak-heap-B", run.PeakHeap)
		if r.Board.PSRAM > 0 {
			fmt.Fprintf(&b, "\t%d peak-psram-B", run.PeakPSRAM)
		}
		fmt.Fprintf(&b, "\t%d free-heap-after-B", run.FreeHeapAfter)
		if run.SamplesDuring > 0 {
			fmt.Fprintf(&b, "\t%d min-free-heap-gen-B", run.MinFreeHeapDuring)
		}
		if e := run.Energy; e != nil && e.Seconds > 0 && run.Tokens > 0 {
			fmt.Fprintf(&b, "\t%.4g W\t%.4g J/tok", e.Joules/e.Seconds, e.Joules/float64(run.Tokens))
		}
		b.WriteByte('\n')
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func quantileOf(v []float64, q float64) float64 {
	s := append([]float64(nil), v...)
	slices.Sort(s)
	return stats.Quantile(s, q)
}

// WriteTable writes a human-readable summary. Whether the figures are
// simulated or emulated is said once, on the board line at the top; a
// line is marked only when its source differs from the board's (the
// upload, timed on the host; figures an emulated board gives exactly; a
// meter that is simulated on a real board, or real on a simulated one).
func (r *Report) WriteTable(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	label := ""
	exact := "" // the mark of a figure an emulated board gives exactly
	if r.Simulated {
		label = " (simulated: modelled, not measured; so is every figure below unless marked)"
	}
	if r.Emulation != nil {
		label = " (" + r.Emulation.Label + "; so is every figure below unless marked)"
		exact = " (exact; emulated)"
	}
	p := func(format string, a ...any) { fmt.Fprintf(tw, format+"\n", a...) }
	p("board\t%s on %s, %s, firmware %s%s", r.Board.Platform, r.Board.Port, r.Board.Chip, r.Board.Firmware, label)
	p("model\t%s (%s), %s parameters, %s, weights in %s", r.Model.Name, r.Model.Quant, count(r.Model.Parameters), bytesIEC(r.Model.Bytes), r.Model.Region)
	p("upload\t%s in %.2fs (%s/s over the link, measured on the host)", bytesIEC(r.Model.Bytes), r.Model.UploadSeconds, bytesIEC(int64(r.Model.UploadBytesSec)))
	p("runs\t%d measured after %d warm-up, %s each, prompt %q", len(r.Runs), r.Config.Warmup, plural(r.Config.Tokens, "token", "tokens"), r.Config.Prompt)
	s := r.Summary
	if e := r.Emulation; e != nil {
		p("instructions/token\t%.0f guest instructions per decoded token, median%s", e.InstrPerToken, exact)
		if len(r.Runs) > 0 {
			r0 := r.Runs[0]
			p("instructions\tprefill %d, first token %d, decode %d (first measured run)%s", r0.PrefillInstructions, r0.TTFTInstructions, r0.DecodeInstructions, exact)
		}
		if e.ArenaBytes > 0 {
			p("arena\t%s reserved by the firmware%s", bytesIEC(e.ArenaBytes), exact)
		}
		p("times\tat the icount clock: 1 guest instruction = 1 ns, so tok/s and ms below are instruction counts, not a real board's speed")
	}
	p("decode\t%s tok/s", est(s.DecodeTokPerSec, 1, "%.2f"))
	p("time to first token\t%s ms", est(s.TTFTSeconds, 1e3, "%.1f"))
	if s.PrefillTokSec.Center > 0 {
		p("prefill\t%s tok/s", est(s.PrefillTokSec, 1, "%.2f"))
	}
	p("inter-token latency\tp50 %.1f ms, p95 %.1f ms, p99 %.1f ms", s.ITLP50Seconds*1e3, s.ITLP95Seconds*1e3, s.ITLP99Seconds*1e3)
	m := r.Memory
	p("heap\tpeak %s in use; free %s idle, %s with the model, %s after; lowest ever %s; largest block %s%s",
		bytesIEC(m.PeakHeap), bytesIEC(m.FreeHeapIdle), bytesIEC(m.FreeHeapBefore), bytesIEC(m.FreeHeapAfter), bytesIEC(m.MinFreeHeap), bytesIEC(m.LargestFreeBlock), exact)
	if m.SamplesDuring > 0 {
		p("heap during\tleast free %s, over %s taken while the board generated", bytesIEC(m.MinFreeHeapDuring), plural(m.SamplesDuring, "read", "reads"))
	} else if m.SamplingRefused {
		p("heap during\tnot read during the generations: the board's firmware refused reads then (update the agent); the peak above is the board's own")
	} else if r.Config.SampleEverySeconds == 0 {
		p("heap during\tnot read during the generations (sampling off); the peak above is the board's own")
	} else {
		p("heap during\tno read landed inside a generation (each ended before one; the peak above is the board's own)")
	}
	if r.Board.PSRAM > 0 {
		p("psram\tpeak %s in use; free %s idle, %s with the model, %s after", bytesIEC(m.PeakPSRAM), bytesIEC(m.PSRAMFreeIdle), bytesIEC(m.PSRAMFreeBefore), bytesIEC(m.PSRAMFreeAfter))
	}
	if pw := r.Power; pw != nil {
		// The power source is named on its line; a mark is due only
		// when it is modelled and the board is not, or the reverse.
		plabel := ""
		switch {
		case pw.Simulated && !r.Simulated:
			plabel = " (simulated meter: modelled, not measured)"
		case !pw.Simulated && r.Simulated:
			plabel = " (measured by the meter, on a simulated board)"
		}
		p("power\t%.1f mW average over the generations; source: %s%s", pw.AverageWatts*1e3, pw.Source, plabel)
		if pw.EnergyPerTokenMaxJ > 0 {
			p("energy/token\t%.3f mJ (%.3f–%.3f, window edges ±%.3g ms)%s", pw.EnergyPerTokenJ*1e3, pw.EnergyPerTokenMinJ*1e3, pw.EnergyPerTokenMaxJ*1e3, pw.WindowUncertainty*1e3, plabel)
		} else {
			p("energy/token\t%.3f mJ (board readings averaged between METRICS, link time included)%s", pw.EnergyPerTokenJ*1e3, plabel)
		}
		if pw.IdleWatts > 0 {
			p("idle power\t%.1f mW before each run, not in the figures above%s", pw.IdleWatts*1e3, plabel)
		}
	}
	if d := m.FreeHeapBefore - m.FreeHeapAfter; d > 0 && len(r.Runs) > 0 {
		p("heap drift\t%s less free after %s: run a leak check", bytesIEC(d), plural(len(r.Runs)+r.Config.Warmup, "generation", "generations"))
	}
	return tw.Flush()
}

func est(e bench.Interval, scale float64, f string) string {
	if !e.Bounded() {
		few := plural(e.N, "run is", "runs are")
		return fmt.Sprintf(f+" (median; %s too few for a %.0f%% interval)", e.Center*scale, few, e.Confidence*100)
	}
	ci := fmt.Sprintf(f+" (median, %.0f%% CI "+f+"–"+f, e.Center*scale, e.Confidence*100, e.Lo*scale, e.Hi*scale)
	if math.Abs(e.Confidence-Confidence) > 0.005 {
		// An interval of order statistics covers only certain levels: the
		// nearest at or above the documented one is reported as it is.
		ci += fmt.Sprintf(": with %d runs the nearest interval at or above %.0f%% covers %.0f%%", e.N, Confidence*100, e.Confidence*100)
	}
	return ci + ")"
}

// plural returns "1 read" or "3 reads".
func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}

func count(n int64) string {
	switch {
	case n >= 1e9:
		return fmt.Sprintf("%.2fB", float64(n)/1e9)
	case n >= 1e6:
		return fmt.Sprintf("%.2fM", float64(n)/1e6)
	case n >= 1e3:
		return fmt.Sprintf("%.1fK", float64(n)/1e3)
	}
	return fmt.Sprint(n)
}

func bytesIEC(n int64) string {
	f := float64(n)
	for _, u := range []string{"B", "KiB", "MiB", "GiB"} {
		if f < 1024 || u == "GiB" {
			if u == "B" {
				return fmt.Sprintf("%d B", n)
			}
			return fmt.Sprintf("%.1f %s", f, u)
		}
		f /= 1024
	}
	return ""
}
