package cost

import (
	"fmt"
	"math"
	"slices"
	"sync"
)

// Calibrated is the result of fitting the scales to the points.
type Calibrated struct {
	// Scales are fitted to every point.
	Scales Scales `json:"scales"`
	// Rows has one entry per point, in Points order.
	Rows []CalibrationRow `json:"rows"`
	// Sigma is the root mean square of the leave-one-out log errors: a
	// prediction's interval is [p·e^−σ, p·e^σ].
	Sigma float64 `json:"sigma"`
}

// CalibrationRow is one point's prediction with all points and without it.
type CalibrationRow struct {
	Point     Point   `json:"point"`
	Predicted float64 `json:"predicted_tok_per_sec"`
	// Ratio is Predicted over the published figure.
	Ratio float64 `json:"ratio"`
	// LOOPredicted is the prediction with the scales fitted to the other
	// points only; LOORatio its ratio to the published figure.
	LOOPredicted float64 `json:"loo_predicted_tok_per_sec"`
	LOORatio     float64 `json:"loo_ratio"`
}

// parts is a point's compute and memory time per token at unit scales.
type parts struct {
	compute, memory float64
	prefetch        bool
	measured        float64
}

func (p parts) tokPerSec(s Scales) float64 {
	c, m := s.Compute*p.compute, s.Memory*p.memory
	if p.prefetch {
		return 1 / math.Max(c, m)
	}
	return 1 / (c + m)
}

// pointParts evaluates every point at unit scales.
func pointParts(ps []Point) ([]parts, error) {
	out := make([]parts, len(ps))
	for i, p := range ps {
		c, err := p.config()
		if err != nil {
			return nil, fmt.Errorf("calibration point %s: %w", p.ID, err)
		}
		// Mean over positions 0..Steps-1: the forward pass is linear in pos.
		lo, hi := c.forward(0, unit), c.forward(p.Steps-1, unit)
		out[i] = parts{compute: (lo.Compute + hi.Compute) / 2, memory: (lo.Weights + lo.KV + hi.Weights + hi.KV) / 2,
			prefetch: c.Platform.Prefetch, measured: p.TokPerSec}
	}
	return out, nil
}

// fit returns the scales that minimise the sum of squared log ratios of
// predicted to published tok/s: a coarse grid over e^−3…e^3 for each scale,
// then a finer one around the best cell. Deterministic and cheap (a few
// thousand evaluations per point).
func fit(ps []parts) Scales {
	loss := func(s Scales) float64 {
		var l float64
		for _, p := range ps {
			e := math.Log(p.tokPerSec(s) / p.measured)
			l += e * e
		}
		return l
	}
	best, bestLoss := unit, math.Inf(1)
	search := func(c0, m0, span, step float64) {
		for lc := c0 - span; lc <= c0+span+1e-9; lc += step {
			for lm := m0 - span; lm <= m0+span+1e-9; lm += step {
				s := Scales{Compute: math.Exp(lc), Memory: math.Exp(lm)}
				// Ties go to the scales nearest 1: the uncalibrated model.
				if l := loss(s); l < bestLoss-1e-12 || (math.Abs(l-bestLoss) <= 1e-12 && math.Abs(lc)+math.Abs(lm) < math.Abs(math.Log(best.Compute))+math.Abs(math.Log(best.Memory))) {
					best, bestLoss = s, l
				}
			}
		}
	}
	search(0, 0, 3, 0.1)
	search(math.Log(best.Compute), math.Log(best.Memory), 0.1, 0.005)
	return best
}

// Calibrate fits the scales to ps and cross-validates them by leaving
// each point out in turn.
func Calibrate(ps []Point) (*Calibrated, error) {
	if len(ps) < 3 {
		return nil, fmt.Errorf("calibration needs at least three points, have %d", len(ps))
	}
	pp, err := pointParts(ps)
	if err != nil {
		return nil, err
	}
	c := &Calibrated{Scales: fit(pp)}
	var sum float64
	for i, p := range ps {
		rest := slices.Delete(slices.Clone(pp), i, i+1)
		loo := fit(rest)
		r := CalibrationRow{Point: p, Predicted: pp[i].tokPerSec(c.Scales), LOOPredicted: pp[i].tokPerSec(loo)}
		r.Ratio, r.LOORatio = r.Predicted/p.TokPerSec, r.LOOPredicted/p.TokPerSec
		e := math.Log(r.LOORatio)
		sum += e * e
		c.Rows = append(c.Rows, r)
	}
	c.Sigma = math.Sqrt(sum / float64(len(ps)))
	return c, nil
}

// calibration is Calibrate(points), once: the catalogue and the points are
// constants of the build.
var calibration = sync.OnceValues(func() (*Calibrated, error) { return Calibrate(points) })

// Calibration returns the calibration on Points. It panics if the
// embedded points do not evaluate, which TestCalibration rules out.
func Calibration() *Calibrated {
	c, err := calibration()
	if err != nil {
		panic(err)
	}
	return c
}
