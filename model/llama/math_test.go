package llama

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestSqrtIsIEEE checks the integer square root against the correctly
// rounded float64 one (exact for float32 inputs) on every exponent,
// subnormals and specials included.
func TestSqrtIsIEEE(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	check := func(x float32) {
		want := float32(math.Sqrt(float64(x)))
		got := Sqrt(x)
		if math.Float32bits(want) != math.Float32bits(got) && !(want != want && got != got) {
			t.Fatalf("Sqrt(%g = %#08x) = %g (%#08x), want %g (%#08x)", x, math.Float32bits(x), got, math.Float32bits(got), want, math.Float32bits(want))
		}
	}
	for _, x := range []float32{0, float32(math.Copysign(0, -1)), 1, 2, 4, 0.25, math.MaxFloat32, math.SmallestNonzeroFloat32,
		float32(math.Inf(1)), -1, float32(math.NaN()), 1e-5, 64} {
		check(x)
	}
	for range 200000 {
		check(math.Float32frombits(r.Uint32() & 0x7fffffff))
	}
}

func TestElementaryAccuracy(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	var worstExp, worstLog, worstSin float64
	for range 100000 {
		x := float32(r.Float64()*170 - 85)
		rel := math.Abs(float64(Exp(x))-math.Exp(float64(x))) / math.Exp(float64(x))
		worstExp = max(worstExp, rel)
		y := float32(math.Exp(r.Float64()*80 - 40))
		worstLog = max(worstLog, math.Abs(float64(Log(y))-math.Log(float64(y))))
		a := float32(r.Float64() * 2000)
		s, c := SinCos(a)
		worstSin = max(worstSin, math.Abs(float64(s)-math.Sin(float64(a))), math.Abs(float64(c)-math.Cos(float64(a))))
	}
	t.Logf("worst: exp %.2g relative, log %.2g absolute, sin/cos %.2g absolute (|a| < 2000)", worstExp, worstLog, worstSin)
	assert.Less(t, worstExp, 5e-7, "Exp relative error")
	assert.Less(t, worstLog, 5e-6, "Log absolute error")
	assert.Less(t, worstSin, 1e-6, "SinCos absolute error")
	assert.Equal(t, float32(math.Inf(1)), Exp(89))
	assert.Equal(t, float32(0), Exp(-88))
	assert.Equal(t, float32(1), Exp(0))
	s, c := SinCos(float32(math.NaN()))
	assert.Equal(t, [2]float32{0, 1}, [2]float32{s, c})
}

// TestHalf checks the binary16 decoder on every one of its 65536 values
// against a float64 computation of the IEEE definition.
func TestHalf(t *testing.T) {
	for h := range 1 << 16 {
		sign := 1.0
		if h&0x8000 != 0 {
			sign = -1
		}
		e, m := (h>>10)&0x1f, float64(h&0x3ff)
		var want float64
		switch {
		case e == 0x1f && m == 0:
			want = math.Inf(int(sign))
		case e == 0x1f:
			require.True(t, math.IsNaN(float64(half(uint16(h)))), "%#04x", h)
			continue
		case e == 0:
			want = sign * m * math.Pow(2, -24)
		default:
			want = sign * (1 + m/1024) * math.Pow(2, float64(e-15))
		}
		require.Equal(t, float32(want), half(uint16(h)), "%#04x", h)
	}
}
