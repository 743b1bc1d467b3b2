package report

import (
	"math"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tinyprof/tinyprof/bench"
)

// TestTableCountsInGoodGrammar: one of a thing is said in the singular.
func TestTableCountsInGoodGrammar(t *testing.T) {
	for _, tc := range []struct {
		tokens, runs int
		want, not    []string
	}{
		{1, 1, []string{"1 token each", "(median; 1 run is too few for a 95% interval)"}, []string{"1 tokens", "1 runs"}},
		{8, 2, []string{"8 tokens each", "(median; 2 runs are too few for a 95% interval)"}, nil},
	} {
		r := Report{Board: Board{Platform: "esp32s3", Port: "/dev/ttyUSB0", Chip: "ESP32-S3", Firmware: "fw"},
			Config: RunConfig{Tokens: tc.tokens}, Runs: make([]Run, tc.runs), Summary: Summary{DecodeTokPerSec: unbounded(tc.runs), TTFTSeconds: unbounded(tc.runs)}}
		var b strings.Builder
		require.NoError(t, r.WriteTable(&b))
		for _, w := range tc.want {
			assert.Contains(t, b.String(), w)
		}
		for _, n := range tc.not {
			assert.NotContains(t, b.String(), n)
		}
	}
}

// unbounded is the interval of n runs, too few for one at 95%.
func unbounded(n int) bench.Interval {
	return bench.Interval{Center: 10, Lo: math.Inf(-1), Hi: math.Inf(1), Confidence: 0.95, N: n}
}
