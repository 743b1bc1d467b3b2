package bench

import (
	"math"
	"slices"
)

// slopeEstimate is a Theil–Sen slope with Sen's distribution-free
// confidence interval.
type slopeEstimate struct {
	Slope, Lo, Hi float64
}

// theilSen fits y[i] against i. The slope is the median of the pairwise
// slopes (y[j]-y[i])/(j-i); the interval at level conf takes the order
// statistics of those slopes that Kendall's S statistic allows, with the
// variance corrected for ties in y (P. K. Sen, "Estimates of the regression
// coefficient based on Kendall's tau", JASA 63, 1968; the form used by
// Gilbert, "Statistical Methods for Environmental Pollution Monitoring",
// 1987, §16.5). It costs O(n²) time and memory: callers bound n.
func theilSen(y []float64, conf float64) slopeEstimate {
	n := len(y)
	if n < 2 {
		return slopeEstimate{Lo: math.Inf(-1), Hi: math.Inf(1)}
	}
	slopes := pairSlopes(y)
	N := float64(len(slopes))
	mid := len(slopes) / 2
	est := slopeEstimate{Slope: selectKth(slopes, mid)}
	if len(slopes)%2 == 0 {
		// The lower middle is the largest of slopes[:mid] after the select.
		est.Slope = (est.Slope + maxOf(slopes[:mid])) / 2
	}

	// Var(S) = [n(n-1)(2n+5) - Σ t(t-1)(2t+5)] / 18 over groups of t tied y.
	v := float64(n) * float64(n-1) * float64(2*n+5)
	sorted := slices.Clone(y)
	slices.Sort(sorted)
	for i := 0; i < n; {
		j := i
		for j < n && sorted[j] == sorted[i] {
			j++
		}
		if t := float64(j - i); t > 1 {
			v -= t * (t - 1) * (2*t + 5)
		}
		i = j
	}
	c := normalQuantile(1-(1-conf)/2) * math.Sqrt(max(v, 0)/18)
	// Sen (1968): the lower limit is the M1-th smallest slope, M1 = (N-C)/2,
	// the upper the (M2+1)-th, M2 = (N+C)/2 (1-based), each rounded outward.
	lo := int(math.Floor((N-c)/2)) - 1 // 0-based index of rank ⌊M1⌋; below 0: no bound
	hi := int(math.Ceil((N + c) / 2))  // 0-based: rank (N+C)/2 + 1
	est.Lo, est.Hi = math.Inf(-1), math.Inf(1)
	// After selectKth(slopes, mid), slopes[:mid] hold the smaller half and
	// slopes[mid:] the rest: select each bound within its half.
	if lo >= 0 && lo < mid {
		est.Lo = selectKth(slopes[:mid], lo)
	} else if lo == mid {
		est.Lo = slopes[mid]
	}
	if hi > mid && hi < len(slopes) {
		est.Hi = selectKth(slopes[mid:], hi-mid)
	} else if hi == mid {
		est.Hi = slopes[mid]
	}
	return est
}

// pairSlopes returns (y[j]-y[i])/(j-i) for every i < j.
func pairSlopes(y []float64) []float64 {
	n := len(y)
	slopes := make([]float64, 0, n*(n-1)/2)
	for i := 0; i < n; i++ {
		for j := i + 1; j < n; j++ {
			slopes = append(slopes, (y[j]-y[i])/float64(j-i))
		}
	}
	return slopes
}

// theilSenSlope is the Theil–Sen slope of y against its index.
func theilSenSlope(y []float64) float64 {
	if len(y) < 2 {
		return 0
	}
	slopes := pairSlopes(y)
	mid := len(slopes) / 2
	m := selectKth(slopes, mid)
	if len(slopes)%2 == 0 {
		m = (m + maxOf(slopes[:mid])) / 2
	}
	return m
}

// selectKth reorders v so that v[k] is the k-th smallest, everything
// before it no larger and everything after no smaller, and returns v[k]
// (Hoare's selection with a median-of-three pivot): O(len(v)) on average,
// where sorting the million slopes of a long series would dominate.
func selectKth(v []float64, k int) float64 {
	lo, hi := 0, len(v)-1
	for lo < hi {
		mid := lo + (hi-lo)/2
		if v[mid] < v[lo] {
			v[mid], v[lo] = v[lo], v[mid]
		}
		if v[hi] < v[lo] {
			v[hi], v[lo] = v[lo], v[hi]
		}
		if v[hi] < v[mid] {
			v[hi], v[mid] = v[mid], v[hi]
		}
		pivot := v[mid]
		i, j := lo, hi
		for i <= j {
			for v[i] < pivot {
				i++
			}
			for v[j] > pivot {
				j--
			}
			if i <= j {
				v[i], v[j] = v[j], v[i]
				i++
				j--
			}
		}
		switch {
		case k <= j:
			hi = j
		case k >= i:
			lo = i
		default:
			return v[k]
		}
	}
	return v[k]
}

func maxOf(v []float64) float64 {
	m := math.Inf(-1)
	for _, x := range v {
		m = max(m, x)
	}
	return m
}

func medianSorted(s []float64) float64 {
	if len(s) == 0 {
		return math.NaN()
	}
	m := len(s) / 2
	if len(s)%2 == 1 {
		return s[m]
	}
	return (s[m-1] + s[m]) / 2
}

func median(v []float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	return medianSorted(s)
}

// mad is the median absolute deviation from the median, scaled by 1.4826
// to estimate a normal standard deviation.
func mad(v []float64) float64 {
	m := median(v)
	d := make([]float64, len(v))
	for i, x := range v {
		d[i] = math.Abs(x - m)
	}
	return 1.4826 * median(d)
}

// normalQuantile is the standard normal quantile function, by bisection on
// math.Erf: it is called a handful of times per analysis.
func normalQuantile(p float64) float64 {
	lo, hi := -40.0, 40.0
	for range 200 {
		mid := (lo + hi) / 2
		if 0.5*math.Erfc(-mid/math.Sqrt2) < p {
			lo = mid
		} else {
			hi = mid
		}
	}
	return (lo + hi) / 2
}
