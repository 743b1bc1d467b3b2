package cost

import (
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/tinyprof/tinyprof/platform"
)

// Prediction is the cost model's answer for one configuration. Every
// figure in it is modelled, not measured.
type Prediction struct {
	// TokPerSec is the decode rate; Low and High bound it by the
	// leave-one-out error of the calibration (Calibrated.Sigma).
	TokPerSec float64 `json:"tok_per_sec"`
	Low       float64 `json:"tok_per_sec_low"`
	High      float64 `json:"tok_per_sec_high"`
	// TTFT is the time to the first token: the prompt's forward passes,
	// one position at a time as llama2.c runs them.
	TTFT time.Duration `json:"ttft_ns"`
	// PerToken is the mean decode token's breakdown.
	PerToken Breakdown `json:"per_token"`
	// WeightBytesPerSec is the mean rate the decode reads weights and KV
	// cache from each region, for a power model.
	ReadBytesPerSec map[platform.Region]float64 `json:"read_bytes_per_sec"`
	// Outside lists why the configuration lies outside what the
	// calibration points cover; empty when it lies inside.
	Outside []string `json:"outside_calibrated_range,omitempty"`
	// Modelled is always true: a reminder in every JSON document.
	Modelled bool `json:"modelled"`
}

// Predict prices a prompt of promptTokens tokens and the decode from there
// to position end (exclusive): a generation of end−promptTokens tokens,
// whose rate is the mean over its positions.
func Predict(c Config, promptTokens, end int) (Prediction, error) {
	ctx := end
	if err := c.Check(); err != nil {
		return Prediction{}, err
	}
	if promptTokens < 1 || ctx <= promptTokens {
		return Prediction{}, fmt.Errorf("need 1 ≤ prompt tokens (%d) < context (%d)", promptTokens, ctx)
	}
	cal := Calibration()
	s := cal.Scales
	lo, hi := c.forward(promptTokens, s), c.forward(ctx-1, s)
	mean := Breakdown{Compute: (lo.Compute + hi.Compute) / 2, Weights: (lo.Weights + hi.Weights) / 2,
		KV: (lo.KV + hi.KV) / 2, Total: (lo.Total + hi.Total) / 2}
	p0, p1 := c.forward(0, s), c.forward(promptTokens-1, s)
	ttft := float64(promptTokens) * (p0.Total + p1.Total) / 2
	pr := Prediction{TokPerSec: 1 / mean.Total, PerToken: mean, TTFT: time.Duration(ttft * 1e9), Modelled: true,
		ReadBytesPerSec: map[platform.Region]float64{}}
	pr.Low, pr.High = pr.TokPerSec*math.Exp(-cal.Sigma), pr.TokPerSec*math.Exp(cal.Sigma)
	share := math.Min(1, float64(c.Shape.MatmulWeights())/float64(max(c.Parameters, c.Shape.MatmulWeights())))
	for r, b := range c.WeightBytes {
		pr.ReadBytesPerSec[r] += share * float64(b) / mean.Total
	}
	kvb := c.KVBytesPerElem
	if kvb == 0 {
		kvb = 4
	}
	pr.ReadBytesPerSec[c.KVIn] += c.Shape.KVBytesRead((promptTokens+ctx)/2, kvb) / mean.Total
	pr.Outside = outside(c, cal)
	return pr, nil
}

// outside says how c differs from every calibration point in what the
// model cannot extrapolate safely: the core, the kernel, the memory the
// weights stream from, and the bytes streamed per token.
func outside(c Config, cal *Calibrated) []string {
	var why []string
	cores, kernels, regions := map[string]bool{}, map[string]bool{}, map[string]bool{}
	minB, maxB := math.Inf(1), 0.0
	for _, r := range cal.Rows {
		p := r.Point
		if plat, err := platform.Lookup(p.Platform); err == nil {
			cores[plat.Core] = true
		}
		if f, err := LookupFormat(p.Format); err == nil {
			kernels[f.Kernel] = true
			b := float64(p.Parameters) * f.BytesPerWeight()
			minB, maxB = math.Min(minB, b), math.Max(maxB, b)
		}
		regions[string(p.WeightsIn)] = true
	}
	if !cores[c.Platform.Core] {
		why = append(why, fmt.Sprintf("no published point on a %s", c.Platform.Core))
	}
	if !kernels[c.Format.Kernel] {
		why = append(why, fmt.Sprintf("no published point uses the %s kernel", c.Format.Kernel))
	}
	if !c.Format.Measured() {
		why = append(why, fmt.Sprintf("the %s kernel cost is estimated from %s (%s)", c.Format.Name, c.Format.Kernel, c.Format.Estimate))
	}
	var total float64
	for r, b := range c.WeightBytes {
		total += float64(b)
		if b > 0 && !regions[string(r)] {
			why = append(why, fmt.Sprintf("no published point streams weights from %s", r))
		}
	}
	if total < minB/2 || total > maxB*2 {
		why = append(why, fmt.Sprintf("%.1f MB of weights; the points span %.1f–%.1f MB", total/1e6, minB/1e6, maxB/1e6))
	}
	return why
}

// Interval formats a prediction's rate and interval: "21.2 tok/s (15.0–29.9)".
func (p Prediction) Interval() string {
	s := fmt.Sprintf("%.1f tok/s (%.1f–%.1f)", p.TokPerSec, p.Low, p.High)
	if len(p.Outside) > 0 {
		s += " outside calibrated range"
	}
	return s
}

// Note joins the reasons a prediction is outside the calibrated range.
func (p Prediction) Note() string { return strings.Join(p.Outside, "; ") }
