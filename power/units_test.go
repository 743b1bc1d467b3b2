package power_test

import (
	"fmt"
	"math"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/tinyprof/tinyprof/power"
)

func TestString(t *testing.T) {
	tests := []struct {
		got  fmt.Stringer
		want string
	}{
		{power.Current(640.9e-6), "640.9µA"},
		{power.Current(0), "0A"},
		{power.Current(-2e-3), "-2mA"},
		{power.Current(21.45e-9), "21.45nA"},
		{power.Voltage(3.3), "3.3V"},
		{power.Voltage(1.8), "1.8V"},
		{power.Power(0.10461), "104.6mW"},
		{power.Power(1500), "1.5kW"},
		{power.Energy(2721.781e-6), "2.722mJ"},
		{power.Energy(999.99e-6), "1mJ"},
		{power.Energy(1e-18), "0.001fJ"},
		{power.Energy(math.NaN()), "NaNJ"},
		{power.Energy(math.Inf(1)), "+InfJ"},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, tt.got.String())
	}
}

func ExampleCurrent_Times() {
	i := 31.7 * power.Milliampere
	fmt.Println(i, "at", 3.3*power.Volt, "is", i.Times(3.3))
	// Output: 31.7mA at 3.3V is 104.6mW
}
