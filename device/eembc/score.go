package eembc

import (
	"context"
	"fmt"
	"math"
	"time"
)

// ScoreConfig describes an MLPerf Tiny performance run. The zero value is
// the rules' run: five windows of at least ten seconds each.
type ScoreConfig struct {
	// Inputs are the input tensors, one per window, cycled if fewer than
	// Windows. Required.
	Inputs [][]byte
	// Windows is the number of timed windows. Default 5, the rules' count.
	Windows int
	// MinWindow is the shortest valid window. Default 10 s, the rules'
	// minimum (MLCommons runner script.py, "error 2").
	MinWindow time.Duration
	// Warmup is the untimed inferences before each window. Default 10, as
	// tests_performance.yaml uses for kws01.
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
	Windows          []Inference `json:"windows"`
	MedianThroughput float64     `json:"median_inferences_per_second"`
	LatencyMS        float64     `json:"latency_ms"`
	// Valid is false when the run breaks the rules (Problems says how); the
	// figures are still what was measured.
	Valid    bool     `json:"valid"`
	Problems []string `json:"problems,omitempty"`
}

// Run identifies the DUT, times one inference to choose N so that each
// window lasts at least MinWindow, then runs the windows: load an input,
// "infer N W", read the two m-lap-us timestamps.
func Run(ctx context.Context, c *Client, cfg ScoreConfig) (*Score, error) {
	if len(cfg.Inputs) == 0 {
		return nil, fmt.Errorf("eembc: run: no input tensors; give at least one")
	}
	if cfg.Windows <= 0 {
		cfg.Windows = 5
	}
	if cfg.MinWindow <= 0 {
		cfg.MinWindow = 10 * time.Second
	}
	if cfg.Warmup < 0 {
		cfg.Warmup = 0
	} else if cfg.Warmup == 0 {
		cfg.Warmup = 10
	}
	s := &Score{Valid: true}
	var err error
	if s.Name, err = c.Name(ctx); err != nil {
		return nil, err
	}
	if s.Profile, err = c.Profile(ctx); err != nil {
		return nil, err
	}
	if err := c.Load(ctx, cfg.Inputs[0]); err != nil {
		return nil, err
	}
	probe, err := c.Infer(ctx, 10, 1)
	if err != nil {
		return nil, fmt.Errorf("eembc: timing one inference: %w", err)
	}
	if probe.ElapsedUS == 0 {
		return nil, fmt.Errorf("eembc: 10 inferences took 0 µs by the DUT's clock: its timer is not running")
	}
	per := float64(probe.ElapsedUS) / 10
	// 5% headroom so that th_pre/th_post and jitter do not leave a window
	// just short of the minimum.
	s.N = int(math.Ceil(float64(cfg.MinWindow.Microseconds()) * 1.05 / per))
	s.N = max(s.N, 10)

	for i := 0; i < cfg.Windows; i++ {
		if err := c.Load(ctx, cfg.Inputs[i%len(cfg.Inputs)]); err != nil {
			return nil, fmt.Errorf("window %d: %w", i+1, err)
		}
		in, err := c.Infer(ctx, s.N, cfg.Warmup)
		if err != nil {
			return nil, fmt.Errorf("window %d: %w", i+1, err)
		}
		if d := time.Duration(in.ElapsedUS) * time.Microsecond; d < cfg.MinWindow {
			s.Valid = false
			s.Problems = append(s.Problems, fmt.Sprintf("window %d ran %v, under the %v minimum", i+1, d, cfg.MinWindow))
		}
		s.Windows = append(s.Windows, in)
		if cfg.Progress != nil {
			cfg.Progress(i+1, cfg.Windows)
		}
	}
	if cfg.Windows != 5 {
		s.Valid = false
		s.Problems = append(s.Problems, fmt.Sprintf("%d windows; the rules require 5", cfg.Windows))
	}
	s.MedianThroughput = MedianThroughput(s.Windows)
	if s.MedianThroughput > 0 {
		s.LatencyMS = 1000 / s.MedianThroughput
	}
	return s, nil
}
