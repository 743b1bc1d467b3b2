package power

import (
	"fmt"
	"math"
	"strconv"
)

// Current is an electric current in amperes.
//
// Units are float64 in SI base units rather than periph.io's int64
// nano-units: meters resolve tens of nanoamperes and a trace sums a million
// samples, and float64 keeps 15 significant digits through that sum without
// overflow checks.
type Current float64

// Voltage is an electric potential in volts.
type Voltage float64

// Power is a power in watts.
type Power float64

// Energy is an energy in joules.
type Energy float64

// Common multiples, so that callers write 3300 * power.Millivolt.
const (
	Nanoampere  Current = 1e-9
	Microampere Current = 1e-6
	Milliampere Current = 1e-3
	Ampere      Current = 1

	Millivolt Voltage = 1e-3
	Volt      Voltage = 1

	Microwatt Power = 1e-6
	Milliwatt Power = 1e-3
	Watt      Power = 1

	Nanojoule  Energy = 1e-9
	Microjoule Energy = 1e-6
	Millijoule Energy = 1e-3
	Joule      Energy = 1
)

// String returns the current with an SI prefix, e.g. "640.9µA".
func (c Current) String() string { return siString(float64(c), "A") }

// String returns the voltage with an SI prefix, e.g. "3.3V".
func (v Voltage) String() string { return siString(float64(v), "V") }

// String returns the power with an SI prefix, e.g. "105.6mW".
func (p Power) String() string { return siString(float64(p), "W") }

// String returns the energy with an SI prefix, e.g. "2.722mJ".
func (e Energy) String() string { return siString(float64(e), "J") }

// Times returns the power drawn at current c from voltage v.
func (c Current) Times(v Voltage) Power { return Power(float64(c) * float64(v)) }

var prefixes = []struct {
	exp    int
	prefix string
}{
	{12, "T"}, {9, "G"}, {6, "M"}, {3, "k"}, {0, ""},
	{-3, "m"}, {-6, "µ"}, {-9, "n"}, {-12, "p"}, {-15, "f"},
}

// siString formats v with four significant digits and the largest SI
// prefix that keeps the mantissa at least 1, the way periph.io's physic
// types print (e.g. "1.5mW"), trimming trailing zeros.
func siString(v float64, unit string) string {
	switch {
	case math.IsNaN(v):
		return "NaN" + unit
	case math.IsInf(v, 0):
		return fmt.Sprintf("%+.0f%s", v, unit)
	case v == 0:
		return "0" + unit
	}
	a := math.Abs(v)
	for _, p := range prefixes {
		scale := math.Pow10(p.exp)
		if a >= scale*0.99995 || p.exp == -15 {
			m := v / scale
			s := strconv.FormatFloat(m, 'f', decimals(math.Abs(m)), 64)
			return trimZeros(s) + p.prefix + unit
		}
	}
	return strconv.FormatFloat(v, 'g', 4, 64) + unit
}

// decimals returns how many decimals give four significant digits.
func decimals(m float64) int {
	switch {
	case m >= 100:
		return 1
	case m >= 10:
		return 2
	default:
		return 3
	}
}

func trimZeros(s string) string {
	for i := 0; i < len(s); i++ {
		if s[i] == '.' {
			j := len(s)
			for j > i+1 && s[j-1] == '0' {
				j--
			}
			if j == i+1 {
				j = i
			}
			return s[:j]
		}
	}
	return s
}
