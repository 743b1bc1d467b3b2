package device

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/tinyprof/tinyprof/firmware"
)

// Envelope is what a board's figures may plausibly be, beyond what its
// own INFO states. The zero value is usable; each field's comment gives
// its default. The device package does not know the platform catalogue:
// a caller that does (bench, the CLI) should set MaxPowerW from the
// platform's power figures, with a margin.
type Envelope struct {
	// MaxPowerW is the most a board may draw. Default 30 W, above any
	// board the catalogue lists (a Jetson Orin Nano peaks near 25 W).
	MaxPowerW float64
	// MaxTokensPerSecond bounds the decode rate. Default 10,000: far past
	// any small model on an edge board.
	MaxTokensPerSecond float64
	// MinTokensPerSecond bounds it from below, for generations of two
	// tokens or more. Default 0.01 (one token per 100 s).
	MinTokensPerSecond float64
	// MaxTTFT bounds the time to the first token. Default 10 minutes.
	MaxTTFT time.Duration
	// Slack is how far the board's summary may disagree with its own
	// token timestamps. Default 1 ms.
	Slack time.Duration
}

func (e Envelope) withDefaults() Envelope {
	if e.MaxPowerW <= 0 {
		e.MaxPowerW = 30
	}
	if e.MaxTokensPerSecond <= 0 {
		e.MaxTokensPerSecond = 10_000
	}
	if e.MinTokensPerSecond <= 0 {
		e.MinTokensPerSecond = 0.01
	}
	if e.MaxTTFT <= 0 {
		e.MaxTTFT = 10 * time.Minute
	}
	if e.Slack <= 0 {
		e.Slack = time.Millisecond
	}
	return e
}

// Problem is one figure a board reported that breaks the protocol's
// invariants or the envelope: the run that produced it is invalid.
type Problem struct {
	Field  string // what is wrong, e.g. "gen_done.peak_heap", "tokens[12].time_us"
	Reason string // why, with the figures
}

func (p Problem) Error() string { return p.Field + ": " + p.Reason }

// Problems checks a generation against the protocol's invariants and the
// board's own INFO (info; nil skips the memory checks): token timestamps
// never go back, the summary's token count matches the tokens, its TTFT
// and decode time match their timestamps, the rates and TTFT are within
// env, peak memory fits the board's SRAM and PSRAM, and every memory
// sample passes MetricsProblems and comes in uptime order. It returns
// every problem found, nil if none. It does no I/O.
func (g *Generation) Problems(info *firmware.Info, env Envelope) []Problem {
	env = env.withDefaults()
	var ps []Problem
	add := func(field, format string, args ...any) {
		ps = append(ps, Problem{Field: field, Reason: fmt.Sprintf(format, args...)})
	}
	s := g.Summary
	if int(s.Tokens) != len(g.Tokens) {
		add("gen_done.tokens", "reports %d tokens, %d arrived", s.Tokens, len(g.Tokens))
	}
	if !s.Stop.Valid() {
		add("gen_done.stop", "stop reason %d is not one of the protocol's", uint8(s.Stop))
	}
	for i := 1; i < len(g.Tokens); i++ {
		if g.Tokens[i].TimeUS < g.Tokens[i-1].TimeUS {
			add(fmt.Sprintf("tokens[%d].time_us", i), "%d µs is before the previous token's %d µs: the board's clock went back (a negative inter-token latency)",
				g.Tokens[i].TimeUS, g.Tokens[i-1].TimeUS)
		}
	}
	slack := uint64(env.Slack.Microseconds())
	if s.PrefillUS > s.TTFTUS && len(g.Tokens) > 0 {
		add("gen_done.prefill_us", "prefill %d µs is longer than the TTFT %d µs that includes it", s.PrefillUS, s.TTFTUS)
	}
	if len(g.Tokens) > 0 {
		first, last := g.Tokens[0].TimeUS, g.Tokens[len(g.Tokens)-1].TimeUS
		if first < s.StartUS {
			add("tokens[0].time_us", "%d µs is before the generation started at %d µs", first, s.StartUS)
		} else if d := absDiff(first-s.StartUS, uint64(s.TTFTUS)); d > slack {
			add("gen_done.ttft_us", "%d µs, but the first token came %d µs after the start", s.TTFTUS, first-s.StartUS)
		}
		if last >= first {
			if d := absDiff(last-first, uint64(s.DecodeUS)); d > slack {
				add("gen_done.decode_us", "%d µs, but the tokens span %d µs", s.DecodeUS, last-first)
			}
		}
		if ttft := g.TTFT(); ttft > env.MaxTTFT {
			add("gen_done.ttft_us", "a TTFT of %v is past the envelope's %v", ttft.Round(time.Millisecond), env.MaxTTFT)
		}
	}
	if len(g.Tokens) >= 2 {
		switch rate := g.DecodeTokensPerSecond(); {
		case s.DecodeUS == 0:
			add("gen_done.decode_us", "0 µs for %d tokens: no decode rate can be computed", len(g.Tokens))
		case rate > env.MaxTokensPerSecond:
			add("gen_done.decode_us", "%.0f tok/s is past the envelope's %.0f tok/s", rate, env.MaxTokensPerSecond)
		case rate < env.MinTokensPerSecond:
			add("gen_done.decode_us", "%.4f tok/s is below the envelope's %.4f tok/s", rate, env.MinTokensPerSecond)
		}
	}
	if info != nil {
		if s.PeakHeap > info.SRAM {
			add("gen_done.peak_heap", "%d bytes in use on a board with %d bytes of SRAM", s.PeakHeap, info.SRAM)
		}
		if s.PeakPSRAM > info.PSRAM {
			add("gen_done.peak_psram", "%d bytes in use on a board with %d bytes of PSRAM", s.PeakPSRAM, info.PSRAM)
		}
	}
	for i, m := range g.Samples {
		for _, p := range MetricsProblems(m, info, env) {
			ps = append(ps, Problem{Field: fmt.Sprintf("samples[%d].%s", i, p.Field), Reason: p.Reason})
		}
		if i > 0 && m.UptimeUS < g.Samples[i-1].UptimeUS {
			add(fmt.Sprintf("samples[%d].uptime_us", i), "%d µs is before the previous sample's %d µs", m.UptimeUS, g.Samples[i-1].UptimeUS)
		}
	}
	return ps
}

// MetricsProblems checks one METRICS snapshot against the board's INFO
// (nil skips the capacity checks) and env: free memory within capacity and
// in the order free ≥ largest block, free ≥ lowest free; power reported
// only by a board that says it measures power, within env.MaxPowerW and
// roughly voltage × current. It returns every problem, nil if none.
func MetricsProblems(m firmware.Metrics, info *firmware.Info, env Envelope) []Problem {
	env = env.withDefaults()
	var ps []Problem
	add := func(field, format string, args ...any) {
		ps = append(ps, Problem{Field: field, Reason: fmt.Sprintf(format, args...)})
	}
	if m.MinFreeHeap > m.FreeHeap {
		add("min_free_heap", "the lowest free heap since boot, %d bytes, is more than the %d free now", m.MinFreeHeap, m.FreeHeap)
	}
	if m.LargestFree > m.FreeHeap {
		add("largest_free", "a free block of %d bytes is larger than the %d bytes free", m.LargestFree, m.FreeHeap)
	}
	if m.PSRAMMinFree > m.PSRAMFree {
		add("psram_min_free", "the lowest free PSRAM, %d bytes, is more than the %d free now", m.PSRAMMinFree, m.PSRAMFree)
	}
	if info != nil {
		if m.FreeHeap > info.SRAM {
			add("free_heap", "%d bytes free on a board with %d bytes of SRAM", m.FreeHeap, info.SRAM)
		}
		if m.PSRAMFree > info.PSRAM {
			add("psram_free", "%d bytes free on a board with %d bytes of PSRAM", m.PSRAMFree, info.PSRAM)
		}
		if m.HasPower && info.Capabilities&firmware.CapPower == 0 {
			add("power_uw", "power reported by a board whose INFO says it measures none")
		}
	}
	if m.HasPower {
		w := float64(m.PowerUW) / 1e6
		if w > env.MaxPowerW {
			add("power_uw", "%.1f W is past the envelope's %.1f W", w, env.MaxPowerW)
		}
		if m.VoltageMV > 0 && m.CurrentUA > 0 {
			vi := float64(m.VoltageMV) * float64(m.CurrentUA) / 1e9 // W
			if w > 2*vi || w < vi/2 {
				add("power_uw", "%.3f W is not voltage × current (%d mV × %d µA = %.3f W), within a factor of two", w, m.VoltageMV, m.CurrentUA, vi)
			}
		}
	}
	return ps
}

// Invalid returns nil if ps is empty, else an error with code
// CodeImplausible (errors.Is(err, ErrImplausible)) listing every problem;
// each Problem is in its chain for errors.As.
func Invalid(op string, ps []Problem) error {
	if len(ps) == 0 {
		return nil
	}
	errs := make([]error, len(ps))
	lines := make([]string, len(ps))
	for i, p := range ps {
		errs[i], lines[i] = p, p.Error()
	}
	return &Error{Op: op, Code: CodeImplausible, Err: errors.Join(errs...),
		Hint: fmt.Sprintf("the board reported %d impossible figures, so the run is invalid: check the firmware's clock, counters and power readings (%s)", len(ps), strings.Join(lines, "; "))}
}

func absDiff(a, b uint64) uint64 {
	if a > b {
		return a - b
	}
	return b - a
}
