package bench

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
)

// TestTheilSenMatchesSorting checks the selection-based estimate against
// the textbook one, on sorted slopes.
func TestTheilSenMatchesSorting(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for _, n := range []int{2, 3, 4, 5, 10, 31, 64} {
		y := make([]float64, n)
		for i := range y {
			y[i] = 3*float64(i) + math.Round(r.NormFloat64()*10) // rounded: ties
		}
		s := pairSlopes(y)
		slices.Sort(s)
		got := theilSen(y, 0.95)
		assert.Equal(t, medianSorted(s), got.Slope, "n=%d", n)
		assert.Equal(t, medianSorted(s), theilSenSlope(y), "n=%d", n)
		c := normalQuantile(0.975) * math.Sqrt(tiedVariance(y)/18)
		// Sen (1968): the M1-th and (M2+1)-th smallest (1-based), rounded outward.
		lo, hi := int(math.Floor((float64(len(s))-c)/2))-1, int(math.Ceil((float64(len(s))+c)/2))
		if lo >= 0 {
			assert.Equal(t, s[lo], got.Lo, "n=%d", n)
		}
		if hi < len(s) {
			assert.Equal(t, s[hi], got.Hi, "n=%d", n)
		}
	}
}

func tiedVariance(y []float64) float64 {
	n := float64(len(y))
	v := n * (n - 1) * (2*n + 5)
	count := map[float64]float64{}
	for _, x := range y {
		count[x]++
	}
	for _, t := range count {
		v -= t * (t - 1) * (2*t + 5)
	}
	return v
}

// TestTheilSenCoverage checks Sen's interval covers the true slope about
// as often as its level says, on a line with normal noise.
func TestTheilSenCoverage(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	const trials, n = 400, 50
	covered := 0
	y := make([]float64, n)
	for range trials {
		for i := range y {
			y[i] = -8*float64(i) + r.NormFloat64()*100
		}
		if e := theilSen(y, 0.95); e.Lo <= -8 && -8 <= e.Hi {
			covered++
		}
	}
	assert.InDelta(t, 0.95, float64(covered)/trials, 0.035, "coverage %d of %d", covered, trials)
}

func TestNormalQuantile(t *testing.T) {
	assert.InDelta(t, 1.959964, normalQuantile(0.975), 1e-6)
	assert.InDelta(t, 2.575829, normalQuantile(0.995), 1e-6)
	assert.InDelta(t, 0, normalQuantile(0.5), 1e-9)
}
