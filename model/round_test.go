package model

import (
	"math"
	"testing"
)

// TestRoundiMatchesCRoundf checks the branchless rounding against
// math.Round (halves away from zero, as C's roundf) over halves, their
// neighbours and a sweep of the range Q8_0 uses.
func TestRoundiMatchesCRoundf(t *testing.T) {
	var vals []float32
	for i := -128; i <= 128; i++ {
		h := float32(i) + 0.5
		vals = append(vals, float32(i), h, math.Nextafter32(h, 0), math.Nextafter32(h, 200), -h)
	}
	for v := float32(-127.9); v < 127.9; v += 0.0137 {
		vals = append(vals, v)
	}
	vals = append(vals, 0, float32(math.Copysign(0, -1)), 0.49999997, -0.49999997)
	for _, v := range vals {
		if got, want := roundi(v), int32(math.Round(float64(v))); got != want {
			t.Fatalf("roundi(%v) = %d, want %d", v, got, want)
		}
	}
}

func TestAbsMaxKeepsTheFirstOnTies(t *testing.T) {
	nan := float32(math.NaN())
	for _, tt := range []struct {
		in   []float32
		want float32
	}{
		{[]float32{1, -3, 3, 2}, -3},
		{[]float32{3, -3}, 3},
		{[]float32{0, float32(math.Copysign(0, -1))}, 0},
		{[]float32{nan, 2, -2}, 2},
		{[]float32{float32(math.Inf(-1)), 5}, float32(math.Inf(-1))},
		{[]float32{}, 0},
	} {
		if got := absMax(tt.in); got != tt.want || math.Signbit(float64(got)) != math.Signbit(float64(tt.want)) {
			t.Errorf("absMax(%v) = %v, want %v", tt.in, got, tt.want)
		}
	}
}
