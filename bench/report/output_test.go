package report

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tinyprof/tinyprof/bench"
)

// TestTableLabelsOnce: the table says once, on its board line, that a
// simulated board's figures are modelled, and marks only the lines whose
// source differs; an interval at a level other than the documented 95%
// says why.
func TestTableLabelsOnce(t *testing.T) {
	iv := bench.Interval{Center: 10, Lo: 9, Hi: 11, Confidence: 0.984, N: 7}
	base := Report{Simulated: true, Board: Board{Platform: "esp32s3", Port: "/dev/pts/1", Chip: "ESP32-S3", Firmware: "sim"},
		Summary: Summary{DecodeTokPerSec: iv, TTFTSeconds: iv}}
	tests := []struct {
		name   string
		power  *PowerReport
		want   []string
		marked int // lines that say "modelled, not measured"
	}{
		{"no power source", nil, nil, 1},
		{"a simulated meter on a simulated board", &PowerReport{Source: "meter ppk2 on /dev/pts/2 (simulated)", Simulated: true, AverageWatts: 0.1, EnergyPerTokenJ: 0.001},
			[]string{"power                100.0 mW average over the generations; source: meter ppk2 on /dev/pts/2 (simulated)\n"}, 1},
		{"a real meter on a simulated board", &PowerReport{Source: "meter ppk2 on /dev/ttyACM0", AverageWatts: 0.1, EnergyPerTokenJ: 0.001},
			[]string{"source: meter ppk2 on /dev/ttyACM0 (measured by the meter, on a simulated board)\n"}, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := base
			r.Power = tt.power
			var out strings.Builder
			require.NoError(t, r.WriteTable(&out))
			got := out.String()
			assert.Equal(t, tt.marked, strings.Count(got, "modelled, not measured"), got)
			assert.Contains(t, got, "(simulated: modelled, not measured; so is every figure below unless marked)\n")
			assert.Contains(t, got, "decode               10.00 (median, 98% CI 9.00–11.00: with 7 runs the nearest interval at or above 95% covers 98%) tok/s\n")
			for _, w := range tt.want {
				assert.Contains(t, got, w)
			}
		})
	}
	r := base
	r.Summary.DecodeTokPerSec.Confidence = Confidence
	var out strings.Builder
	require.NoError(t, r.WriteTable(&out))
	assert.Contains(t, out.String(), "10.00 (median, 95% CI 9.00–11.00) tok/s\n", "the documented level needs no note")
}
