// Package stats holds the order statistics that bench, its report and its
// comparison share, so that a p95 means one thing in go test -bench output
// and in tiny-profiler's.
package stats

// Quantile returns the q-quantile of sorted by linear interpolation
// between closest ranks, 0 for no values.
func Quantile(sorted []float64, q float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	pos := q * float64(len(sorted)-1)
	i := int(pos)
	if i+1 >= len(sorted) {
		return sorted[len(sorted)-1]
	}
	frac := pos - float64(i)
	return sorted[i]*(1-frac) + sorted[i+1]*frac
}

// Mean returns the arithmetic mean of v, NaN for no values.
func Mean(v []float64) float64 {
	s := 0.0
	for _, x := range v {
		s += x
	}
	return s / float64(len(v))
}
