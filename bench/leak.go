package bench

import (
	"errors"
	"fmt"
	"math"
	"strings"
)

// DefaultLeakTolerance is the leak rate, in bytes per iteration, that
// CheckLeaks accepts by default. It is below the smallest allocation most
// MCU heaps hand out (ESP-IDF's TLSF rounds to 4 bytes plus a header), so
// any allocation lost every iteration exceeds it.
const DefaultLeakTolerance = 2.0

// MaxLeakIterations bounds the series AnalyzeLeaks accepts: the Theil–Sen
// fit takes memory quadratic in it (2000 samples: 2 million slopes, 16 MB).
const MaxLeakIterations = 2000

// minLeakIterations is the shortest series worth a verdict.
const minLeakIterations = 10

// Step detection: at every split of the series, the difference between
// the medians of up to stepWindow samples after and before it, less the
// trend, is a level shift. A shift further than stepK robust standard
// deviations of all shifts (and minStepBytes) from zero, and the largest
// within stepWindow of it, is a one-off step. Medians make a transient
// burst, which comes back, move the level little.
const (
	stepK        = 5
	minStepBytes = 64
	stepWindow   = 10
	stepMinSide  = 5
	// stepSizeWindow bounds the samples a side that size a step.
	stepSizeWindow = 50
)

// HeapSample is one reading of the board's heap after an iteration.
type HeapSample struct {
	Iteration   int    `json:"iteration"`
	UptimeUS    uint64 `json:"uptime_us"`
	FreeHeap    int64  `json:"free_heap_bytes"`
	LargestFree int64  `json:"largest_free_block_bytes"`
}

// Step is a one-off change in the level of the free heap: a cache filling
// once, a buffer allocated on first use. It is not a leak.
type Step struct {
	// Iteration is the first sample at the new level.
	Iteration int `json:"iteration"`
	// Bytes is how much less is free after it (negative: more is free).
	Bytes int64 `json:"bytes"`
}

// LeakReport is the verdict of AnalyzeLeaks.
type LeakReport struct {
	Iterations int     `json:"iterations"`
	Confidence float64 `json:"confidence"`
	Tolerance  float64 `json:"tolerance_bytes_per_iteration"`
	Simulated  bool    `json:"simulated,omitempty"` // the series came from a simulated board's heap model

	// Leak reports memory lost every iteration (a trend whose interval lies
	// above the tolerance) or in more lumps than MaxSteps forgives.
	Leak bool `json:"leak"`
	// Loss is the trend in free heap after the steps are taken out,
	// as bytes lost per iteration (negative: free heap grows), with its
	// interval at Confidence.
	Loss Interval `json:"loss"`
	// TrendStart is the iteration where a leak's trend begins, and
	// LossAfterStart its rate from there; TotalBytes is what it lost from
	// TrendStart to the last sample. Set only for a leak by trend.
	TrendStart     int     `json:"trend_start,omitempty"`
	LossAfterStart float64 `json:"loss_after_start_bytes_per_iteration,omitempty"`
	TotalBytes     int64   `json:"total_bytes,omitempty"`
	// Steps are the one-off steps found and taken out before the fit.
	Steps []Step `json:"steps,omitempty"`
	// Lumps is set when more steps took memory than MaxSteps forgives.
	Lumps bool `json:"lumps,omitempty"`

	// Fragmentation is the trend of free heap minus the largest free block,
	// in bytes per iteration: positive means the heap is breaking up while
	// it may not be shrinking. Fragmented reports its interval lies above
	// the tolerance. It is reported apart from Leak and does not set it.
	Fragmentation Interval `json:"fragmentation"`
	Fragmented    bool     `json:"fragmented"`

	Series []HeapSample `json:"series"`
}

// AnalyzeLeaks decides whether series, the free heap sampled after each of
// a run of identical iterations, shows a leak. It takes out one-off steps,
// fits a Theil–Sen slope with Sen's confidence interval to what is left,
// and reports a leak when the whole interval lies above the tolerance. It
// honours the Tolerance, LeakConfidence and MaxSteps options. It fails on
// fewer than 10 or more than MaxLeakIterations samples.
func AnalyzeLeaks(series []HeapSample, opts ...Option) (*LeakReport, error) {
	s := newSettings(opts)
	n := len(series)
	switch {
	case n < minLeakIterations:
		return nil, fmt.Errorf("leak check: %d samples are too few for a verdict: run at least %d iterations", n, minLeakIterations)
	case n > MaxLeakIterations:
		return nil, fmt.Errorf("leak check: %d samples exceed the %d the analysis holds: run fewer iterations", n, MaxLeakIterations)
	case !(s.confidence > 0 && s.confidence < 1):
		return nil, fmt.Errorf("leak check: confidence %v must lie between 0 and 1", s.confidence)
	case s.tolerance < 0 || math.IsNaN(s.tolerance):
		return nil, errors.New("leak check: the tolerance must be zero or more bytes per iteration")
	}
	rep := &LeakReport{Iterations: n, Confidence: s.confidence, Tolerance: s.tolerance, Series: series}

	free := make([]float64, n)
	gap := make([]float64, n)
	for i, x := range series {
		free[i] = float64(x.FreeHeap)
		gap[i] = float64(x.FreeHeap - x.LargestFree)
	}
	var corrected []float64
	corrected, rep.Steps = removeSteps(free)
	for i := range rep.Steps {
		rep.Steps[i].Iteration = series[rep.Steps[i].Iteration].Iteration
	}
	down := 0
	for _, st := range rep.Steps {
		if st.Bytes > 0 {
			down++
		}
	}
	rep.Lumps = down > s.maxSteps

	fit := theilSen(corrected, s.confidence)
	widen(&fit, corrected, rep.Steps, s.confidence)
	rep.Loss = Interval{Center: -fit.Slope, Lo: -fit.Hi, Hi: -fit.Lo, Confidence: s.confidence, N: n}
	trend := rep.Loss.Lo > s.tolerance
	rep.Leak = trend || rep.Lumps
	if trend {
		k, rate := trendStart(corrected)
		rep.TrendStart = series[k].Iteration
		rep.LossAfterStart = rate
		rep.TotalBytes = int64(math.Round(rate * float64(n-1-k)))
	}

	gapc, gapSteps := removeSteps(gap)
	gf := theilSen(gapc, s.confidence)
	widen(&gf, gapc, gapSteps, s.confidence)
	rep.Fragmentation = Interval{Center: gf.Slope, Lo: gf.Lo, Hi: gf.Hi, Confidence: s.confidence, N: n}
	rep.Fragmented = gf.Lo > s.tolerance
	return rep, nil
}

// removeSteps finds one-off level shifts in y and returns y with each
// shift added back to the samples after it, and the shifts (Iteration is an
// index into y here). It runs twice: the trend the first pass sees is
// rough, the second uses the Theil–Sen slope of the first's result.
func removeSteps(y []float64) ([]float64, []Step) {
	n := len(y)
	lag := min(stepWindow, n/2)
	d := make([]float64, 0, n)
	for i := lag; i < n; i++ {
		d = append(d, (y[i]-y[i-lag])/float64(lag))
	}
	trend := median(d)
	out, steps := removeStepsWith(y, trend)
	if len(steps) == 0 {
		return out, steps
	}
	return removeStepsWith(y, theilSenSlope(out))
}

func removeStepsWith(y []float64, trend float64) ([]float64, []Step) {
	n := len(y)
	lv := make([]float64, n) // lv[i]: shift between y[i-1] and y[i]
	valid := make([]bool, n)
	var all []float64
	for i := stepMinSide; i <= n-stepMinSide; i++ {
		before := y[max(0, i-stepWindow):i]
		after := y[i:min(n, i+stepWindow)]
		lv[i] = median(after) - median(before) - trend*float64(len(before)+len(after))/2
		valid[i] = true
		all = append(all, lv[i])
	}
	out := make([]float64, n)
	copy(out, y)
	if len(all) == 0 {
		return out, nil
	}
	thr := max(stepK*mad(all), minStepBytes)
	var steps []Step
	for i := range lv {
		if !valid[i] || math.Abs(lv[i]) <= thr {
			continue
		}
		peak := true
		for j := max(0, i-stepWindow); j <= min(n-1, i+stepWindow); j++ {
			if valid[j] && (math.Abs(lv[j]) > math.Abs(lv[i]) || math.Abs(lv[j]) == math.Abs(lv[i]) && j < i) {
				peak = false
				break
			}
		}
		if peak {
			j, level := locateStep(y, i, trend)
			if len(steps) > 0 && steps[len(steps)-1].Iteration >= j {
				continue
			}
			steps = append(steps, Step{Iteration: j, Bytes: int64(math.Round(-level))})
		}
	}
	// Size each step from all the samples between its neighbours (at most
	// stepSizeWindow a side), detrended: the windows that found it are too
	// short to size it well, and an error in a size tilts the fit.
	for k := range steps {
		lo, hi := sizeWindow(steps, k, n)
		j := steps[k].Iteration
		before, after := make([]float64, 0, j-lo), make([]float64, 0, hi-j)
		for i := lo; i < j; i++ {
			before = append(before, y[i]-trend*float64(i))
		}
		for i := j; i < hi; i++ {
			after = append(after, y[i]-trend*float64(i))
		}
		steps[k].Bytes = int64(math.Round(median(before) - median(after)))
	}
	var shift float64
	k := 0
	for i := range out {
		if k < len(steps) && steps[k].Iteration == i {
			shift += float64(steps[k].Bytes)
			k++
		}
		out[i] += shift
	}
	return out, steps
}

// sizeWindow returns the samples [lo, hi) that size step k: those between
// its neighbours, at most stepSizeWindow a side.
func sizeWindow(steps []Step, k, n int) (lo, hi int) {
	lo, hi = 0, n
	if k > 0 {
		lo = steps[k-1].Iteration
	}
	if k+1 < len(steps) {
		hi = steps[k+1].Iteration
	}
	j := steps[k].Iteration
	return max(lo, j-stepSizeWindow), min(hi, j+stepSizeWindow)
}

// widen adds the uncertainty of the step sizes taken out of y to fit's
// interval: a step sized δ wrong tilts the slope by about δ times
// Σ_{i≥j}(i-x̄)/Σ(i-x̄)² (its least-squares leverage), and a median of m
// samples with noise σ is wrong by about 1.2533σ/√m. The noise σ is the
// MAD of the residuals; the two intervals add in quadrature.
func widen(fit *slopeEstimate, y []float64, steps []Step, conf float64) {
	if len(steps) == 0 || math.IsInf(fit.Lo, 0) || math.IsInf(fit.Hi, 0) {
		return
	}
	n := len(y)
	resid := make([]float64, n)
	for i, v := range y {
		resid[i] = v - fit.Slope*float64(i)
	}
	sigma := mad(resid)
	xbar := float64(n-1) / 2
	sxx := 0.0
	for i := range n {
		sxx += (float64(i) - xbar) * (float64(i) - xbar)
	}
	variance := 0.0
	for k, st := range steps {
		lo, hi := sizeWindow(steps, k, n)
		nb, na := float64(st.Iteration-lo), float64(hi-st.Iteration)
		if nb < 1 || na < 1 {
			continue
		}
		lever := 0.0
		for i := st.Iteration; i < n; i++ {
			lever += float64(i) - xbar
		}
		sd := 1.2533 * sigma * math.Sqrt(1/nb+1/na) * lever / sxx
		variance += sd * sd
	}
	extra := normalQuantile(1-(1-conf)/2) * math.Sqrt(variance)
	lo, hi := fit.Slope-fit.Lo, fit.Hi-fit.Slope
	fit.Lo = fit.Slope - math.Hypot(lo, extra)
	fit.Hi = fit.Slope + math.Hypot(hi, extra)
}

// locateStep places the step found near split i exactly: within
// stepWindow of it, at the split that best divides the detrended samples
// into two levels (least absolute deviation from each side's median). It
// returns the split and the shift in level there.
func locateStep(y []float64, i int, trend float64) (int, float64) {
	a, b := max(0, i-stepWindow), min(len(y), i+stepWindow)
	z := make([]float64, b-a)
	for k := range z {
		z[k] = y[a+k] - trend*float64(a+k)
	}
	dev := func(v []float64) (float64, float64) {
		m := median(v)
		s := 0.0
		for _, x := range v {
			s += math.Abs(x - m)
		}
		return s, m
	}
	best, bestCost, level := i, math.Inf(1), 0.0
	for j := a + 2; j <= b-2; j++ {
		cb, mb := dev(z[:j-a])
		ca, ma := dev(z[j-a:])
		if c := cb + ca; c < bestCost {
			best, bestCost, level = j, c, ma-mb
		}
	}
	return best, level
}

// trendStart fits a hinge — flat, then falling at a constant rate — to y
// by least squares for every bend k, in O(n) each, and returns the bend
// with the least squared error and the Theil–Sen rate of loss after it, in
// bytes per iteration.
func trendStart(y []float64) (int, float64) {
	n := len(y)
	bestK, bestSSE, lineSSE := 0, math.Inf(1), 0.0
	for k := 0; k <= n-minLeakIterations; k++ {
		// Regress y on x = max(0, i-k) with an intercept.
		var sx, sy, sxx, sxy float64
		for i, v := range y {
			x := float64(max(0, i-k))
			sx, sy, sxx, sxy = sx+x, sy+v, sxx+x*x, sxy+x*v
		}
		N := float64(n)
		den := N*sxx - sx*sx
		if den == 0 {
			continue
		}
		slope := (N*sxy - sx*sy) / den
		icept := (sy - slope*sx) / N
		sse := 0.0
		for i, v := range y {
			r := v - icept - slope*float64(max(0, i-k))
			sse += r * r
		}
		if k == 0 {
			lineSSE = sse
		}
		if sse < bestSSE {
			bestK, bestSSE = k, sse
		}
	}
	// A bend is only worth naming when it fits clearly better than the
	// straight line from the first sample (an F statistic above 10 for the
	// one extra parameter); otherwise the loss runs from the start.
	if bestK > 0 && (lineSSE-bestSSE)/(bestSSE/float64(n-3)) < 10 {
		bestK = 0
	}
	return bestK, -theilSenSlope(y[bestK:])
}

// String is the leak report a failing test prints.
func (r *LeakReport) String() string {
	var b strings.Builder
	label := ""
	if r.Simulated {
		label = " (simulated board: the heap is modelled, not measured)"
	}
	loss := fmt.Sprintf("%.1f bytes per iteration (%.0f%% interval %.1f to %.1f)", r.Loss.Center, r.Confidence*100, r.Loss.Lo, r.Loss.Hi)
	first, last := r.Series[0], r.Series[len(r.Series)-1]
	switch {
	case r.Leak && r.Lumps:
		var taken int64
		for _, s := range r.Steps {
			taken += max(0, s.Bytes)
		}
		fmt.Fprintf(&b, "heap leak%s: free heap fell in %d separate steps, %d bytes in all, over %d iterations; trend between steps %s", label, len(r.Steps), taken, r.Iterations, loss)
	case r.Leak:
		fmt.Fprintf(&b, "heap leak%s: %s over %d iterations, above the %.1f B/iteration tolerance; the trend starts at iteration %d and loses %.1f B/iteration from there, %d bytes in all",
			label, loss, r.Iterations, r.Tolerance, r.TrendStart, r.LossAfterStart, r.TotalBytes)
	default:
		fmt.Fprintf(&b, "no leak%s: free heap trend %s over %d iterations, within the %.1f B/iteration tolerance", label, loss, r.Iterations, r.Tolerance)
	}
	fmt.Fprintf(&b, "; free heap %d bytes at iteration %d, %d at iteration %d", first.FreeHeap, first.Iteration, last.FreeHeap, last.Iteration)
	for _, s := range r.Steps {
		fmt.Fprintf(&b, "; one-off step of %d bytes at iteration %d (not counted as a leak)", s.Bytes, s.Iteration)
	}
	if r.Fragmented {
		fmt.Fprintf(&b, "; fragmentation: the largest free block falls behind free heap by %.1f B/iteration (interval %.1f to %.1f), %d bytes at the first sample, %d at the last",
			r.Fragmentation.Center, r.Fragmentation.Lo, r.Fragmentation.Hi, first.LargestFree, last.LargestFree)
	}
	return b.String()
}
