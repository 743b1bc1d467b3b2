package eembc

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"regexp"
	"time"
)

// ScoreConfig describes an MLPerf Tiny performance run. The zero value
// (with Inputs) is the rules' run: five windows of at least ten seconds
// each, with the reference's warm-up for the DUT's model.
type ScoreConfig struct {
	// Inputs are the input tensors, one per window, cycled if fewer than
	// Windows. The rules run five different inputs, each of the size the
	// model takes (ReferenceFor). Required unless MakeInputs is set.
	Inputs [][]byte
	// MakeInputs, if Inputs is empty, makes them once the DUT has named
	// its model (m-model-[…]).
	MakeInputs func(model string) ([][]byte, error)
	// Windows is the number of timed windows. Default 5, the rules' count.
	Windows int
	// MinWindow is the shortest valid window. Default 10 s, the rules'
	// minimum (MLCommons runner script.py, "error 2"); a shorter one makes
	// the run invalid.
	MinWindow time.Duration
	// Warmup is the untimed inferences before each window. Zero means the
	// reference's count for the DUT's model (5 for ic01 and vww01, 10 for
	// kws01 and ad01, and the firmware's own default, 10, for others); a
	// negative count means none.
	Warmup int
	// Progress, if set, is told after each window.
	Progress func(done, total int)
}

// Score is the outcome of a performance run, scored as MLPerf Tiny does:
// the median of the windows' throughputs, and latency as its inverse
// (tools/submission/generate_final_report.py: 1000 / inf/s).
type Score struct {
	Name             string      `json:"name"`
	Profile          Profile     `json:"profile"`
	N                int         `json:"inferences_per_window"`
	Warmup           int         `json:"warmup"`
	MinWindowSeconds float64     `json:"min_window_seconds"`
	Windows          []Inference `json:"windows"`
	MedianThroughput float64     `json:"median_inferences_per_second"`
	LatencyMS        float64     `json:"latency_ms"`
	// Resizes says each time the windows came out short of MinWindow and
	// were run again with more inferences.
	Resizes []string `json:"resizes,omitempty"`
	// Notes are what else happened that a reader should know, such as a
	// first command retried.
	Notes []string `json:"notes,omitempty"`
	// Valid is false when the run breaks the rules (Problems says how); the
	// figures are still what was measured.
	Valid    bool     `json:"valid"`
	Problems []string `json:"problems,omitempty"`
}

// Limits of Run, as the reference runner's: a command tried 3 times, and
// windows re-sized at most 3 times.
const (
	attempts   = 3
	maxResizes = 3
	// headroom over MinWindow in choosing N, so that jitter does not leave
	// a window just short.
	headroom = 1.05
)

// complaint matches the reference firmware's refusal of an input of the
// wrong size ("Input db has 16 elemented, expected 490").
var complaint = regexp.MustCompile(`(?i)\binput\b.*\bexpected\b`)

// Run identifies the DUT (retrying name and profile up to 3 times, as the
// reference runner does, since bytes left in the DUT's command buffer fail
// the first command), times one inference, then ten after the warm-up, to
// choose N so that each window lasts MinWindow with 5% to spare, and runs
// the windows: load an input, "infer N W", read the two m-lap-us
// timestamps. When a window comes out short — the probe ran slower than
// the DUT settles to — it sizes N again from that window and runs the
// windows again, up to 3 times.
//
// The time-outs of the inferences scale from the first one (at most
// Options.InferTimeout), so a slow DUT is not taken for a dead port. A run
// outside the rules — a window short of 10 s, not 5 windows, an input of
// the wrong size or one the DUT refused, fewer than 5 different inputs —
// is still scored, with Valid false and the reasons in Problems.
func Run(ctx context.Context, c *Client, cfg ScoreConfig) (*Score, error) {
	if len(cfg.Inputs) == 0 && cfg.MakeInputs == nil {
		return nil, fmt.Errorf("eembc: run: no input tensors; give at least one")
	}
	if cfg.Windows <= 0 {
		cfg.Windows = RuleWindows
	}
	if cfg.MinWindow <= 0 {
		cfg.MinWindow = RuleMinWindow
	}
	s := &Score{Valid: true, MinWindowSeconds: cfg.MinWindow.Seconds()}
	if err := s.identify(ctx, c); err != nil {
		return nil, err
	}
	if err := s.prepare(&cfg); err != nil {
		return nil, err
	}
	if err := c.Load(ctx, cfg.Inputs[0]); err != nil {
		return nil, err
	}
	p := pacer{base: c.opts.Timeout}
	first, err := p.infer(ctx, c, 1, 0, c.opts.InferTimeout)
	if err != nil {
		return nil, fmt.Errorf("eembc: timing one inference (time-out %v, Options.InferTimeout: one inference took longer, or the DUT hung): %w", c.opts.InferTimeout, err)
	}
	s.complaints("the probe", first)
	probe, err := p.infer(ctx, c, 10, s.Warmup, p.timeout(10+s.Warmup))
	if err != nil {
		return nil, fmt.Errorf("eembc: timing 10 inferences after %d warm-up: %w", s.Warmup, p.explain(err))
	}
	if probe.ElapsedUS == 0 {
		return nil, fmt.Errorf("eembc: 10 inferences took 0 µs by the DUT's clock: its timer is not running")
	}
	s.N = sizeFor(cfg.MinWindow, probe)

	for resize := 0; ; resize++ {
		last := resize == maxResizes
		short, err := s.runWindows(ctx, c, cfg, &p, last)
		if err != nil {
			return nil, err
		}
		if short == nil {
			break
		}
		n := max(sizeFor(cfg.MinWindow, *short), s.N+1)
		s.Resizes = append(s.Resizes, fmt.Sprintf("window %d ran %v with infer %d %d, under the %v minimum: sized again to infer %d %d",
			len(s.Windows), elapsed(*short), s.N, s.Warmup, cfg.MinWindow, n, s.Warmup))
		s.N = n
	}
	s.MedianThroughput = MedianThroughput(s.Windows)
	if s.MedianThroughput > 0 {
		s.LatencyMS = 1000 / s.MedianThroughput
	}
	return s, nil
}

// prepare makes cfg's inputs if need be, chooses the warm-up for the DUT's
// model and records the problems known before the run.
func (s *Score) prepare(cfg *ScoreConfig) error {
	if len(cfg.Inputs) == 0 {
		var err error
		if cfg.Inputs, err = cfg.MakeInputs(s.Profile.Model); err != nil {
			return err
		}
		if len(cfg.Inputs) == 0 {
			return fmt.Errorf("eembc: run: no input tensors for %s; give at least one", s.Profile.Model)
		}
	}
	ref, known := ReferenceFor(s.Profile.Model)
	switch {
	case cfg.Warmup < 0:
		s.Warmup = 0
	case cfg.Warmup > 0:
		s.Warmup = cfg.Warmup
	case known:
		s.Warmup = ref.Warmup
	default:
		s.Warmup = 10 // the reference firmware's own default
	}
	s.checkRules(*cfg, ref, known)
	return nil
}

// identify asks the DUT's name and profile, each up to 3 times.
func (s *Score) identify(ctx context.Context, c *Client) error {
	retry := func(what string, f func() error) error {
		for i := 1; ; i++ {
			err := f()
			var dutErr *DUTError
			if err == nil || i == attempts || ctx.Err() != nil || !(errors.As(err, &dutErr) || errors.Is(err, ErrNoReady)) {
				return err
			}
			s.Notes = append(s.Notes, fmt.Sprintf("%s: attempt %d failed (%v), tried again, as the reference runner does: bytes left in the DUT's command buffer fail the first command", what, i, err))
		}
	}
	if err := retry("name", func() (err error) {
		s.Name, err = c.Name(ctx)
		return err
	}); err != nil {
		return err
	}
	return retry("profile", func() (err error) {
		s.Profile, err = c.Profile(ctx)
		return err
	})
}

// checkRules records the problems of cfg that are known before the run.
func (s *Score) checkRules(cfg ScoreConfig, ref Reference, known bool) {
	if cfg.Windows != RuleWindows {
		s.problem("%d windows; the rules require %d", cfg.Windows, RuleWindows)
	}
	if cfg.MinWindow < RuleMinWindow {
		s.problem("windows of at least %v; the rules require at least %v", cfg.MinWindow, RuleMinWindow)
	}
	used := cfg.Inputs[:min(len(cfg.Inputs), cfg.Windows)]
	var distinct [][]byte
	for _, in := range used {
		dup := false
		for _, d := range distinct {
			dup = dup || bytes.Equal(in, d)
		}
		if !dup {
			distinct = append(distinct, in)
		}
	}
	if len(distinct) < min(RuleWindows, cfg.Windows) { // fewer windows are a problem of their own
		s.problem("%d different %s; the rules run %d", len(distinct), plural(len(distinct), "input", "inputs"), RuleWindows)
	}
	if !known {
		return
	}
	for i, in := range used {
		if len(in) != ref.InputSize {
			s.problem("input %d is %d bytes; %s takes %d", i+1, len(in), s.Profile.Model, ref.InputSize)
		}
	}
}

// complaints records the DUT's complaints about its input during one
// command as problems: the reference firmware then infers on the tensor it
// had, not on the input sent.
func (s *Score) complaints(where string, in Inference) {
	for _, m := range in.Messages {
		if complaint.MatchString(m) {
			s.problem("%s: the DUT refused its input: %q", where, m)
		}
	}
}

func (s *Score) problem(format string, a ...any) {
	p := fmt.Sprintf(format, a...)
	for _, q := range s.Problems {
		if q == p {
			return
		}
	}
	s.Valid = false
	s.Problems = append(s.Problems, p)
}

// runWindows runs cfg.Windows windows of s.N inferences into s.Windows.
// Unless last, it stops at the first window short of cfg.MinWindow and
// returns it, for the caller to size N again; on the last attempt a short
// window is a problem of the run.
func (s *Score) runWindows(ctx context.Context, c *Client, cfg ScoreConfig, p *pacer, last bool) (*Inference, error) {
	s.Windows = s.Windows[:0]
	for i := range cfg.Windows {
		if err := c.Load(ctx, cfg.Inputs[i%len(cfg.Inputs)]); err != nil {
			return nil, fmt.Errorf("window %d: %w", i+1, err)
		}
		in, err := p.infer(ctx, c, s.N, s.Warmup, p.timeout(s.N+s.Warmup))
		if err != nil {
			return nil, fmt.Errorf("window %d: %w", i+1, p.explain(err))
		}
		s.Windows = append(s.Windows, in)
		if d := elapsed(in); d < cfg.MinWindow {
			if !last {
				return &in, nil
			}
			s.problem("window %d ran %v, under the %v minimum, after %d re-sizes", i+1, d, cfg.MinWindow, maxResizes)
		}
		s.complaints(fmt.Sprintf("window %d", i+1), in)
		if cfg.Progress != nil {
			cfg.Progress(i+1, cfg.Windows)
		}
	}
	return nil, nil
}

// sizeFor returns the inferences a window needs to last min with headroom,
// at the pace of in, and at least 10.
func sizeFor(min time.Duration, in Inference) int {
	if in.ElapsedUS == 0 {
		return 10
	}
	per := float64(in.ElapsedUS) / float64(in.N)
	return max(int(math.Ceil(float64(min.Microseconds())*headroom/per)), 10)
}

func elapsed(in Inference) time.Duration { return time.Duration(in.ElapsedUS) * time.Microsecond }

// pacer scales the time-outs of inferences from the slowest pace seen so
// far, by the DUT's clock or the host's, whichever is slower: a DUT whose
// clock runs fast cannot shorten them.
type pacer struct {
	base time.Duration // the time-out of a reply: the link's share
	per  time.Duration // the slowest time per inference seen
	last time.Duration // the time-out of the last inference
	n    int           // its inferences, warm-up included
}

// infer runs "infer n w" within timeout and learns its pace.
func (p *pacer) infer(ctx context.Context, c *Client, n, w int, timeout time.Duration) (Inference, error) {
	p.last, p.n = timeout, n+w
	start := time.Now()
	in, err := c.infer(ctx, n, w, timeout)
	if err != nil {
		return in, err
	}
	// The host's time counts the link too, which only lengthens the
	// time-outs.
	p.per = max(p.per, time.Since(start)/time.Duration(n+w), elapsed(in)/time.Duration(n))
	return in, nil
}

// timeout is twice the time n inferences take at the slowest pace seen,
// plus the reply's own time-out.
func (p *pacer) timeout(n int) time.Duration { return p.base + 2*p.per*time.Duration(n) }

// explain says what a timed-out inference means, given the pace it was
// expected at.
func (p *pacer) explain(err error) error {
	if !errors.Is(err, ErrNoReady) {
		return err
	}
	return fmt.Errorf("%w; it had answered the probe at %v per inference, so %d inferences should have taken %v: it hung or slowed down mid-run (power-cycle it and check its clock)",
		err, round(p.per), p.n, round(p.per*time.Duration(p.n)))
}

// round rounds d for a message: to 10 ms from a second up, else to 1 µs.
func round(d time.Duration) time.Duration {
	if d >= time.Second {
		return d.Round(10 * time.Millisecond)
	}
	return d.Round(time.Microsecond)
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
