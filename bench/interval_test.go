package bench_test

import (
	"encoding/json"
	"math"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/stretchr/testify/require"

	"github.com/tinyprof/tinyprof/bench"
)

func TestIntervalJSON(t *testing.T) {
	tests := []struct {
		name string
		iv   bench.Interval
		want string
	}{
		{"bounded", bench.Interval{Center: 2, Lo: 1, Hi: 3, Confidence: 0.95, N: 10},
			`{"median":2,"lo":1,"hi":3,"confidence":0.95,"n":10}`},
		{"too few", bench.Interval{Center: 2, Lo: math.Inf(-1), Hi: math.Inf(1), Confidence: 0.95, N: 3},
			`{"median":2,"confidence":0.95,"n":3,"note":"3 samples are too few for a 95% interval"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := json.Marshal(tt.iv)
			require.NoError(t, err)
			if d := cmp.Diff(tt.want, string(b)); d != "" {
				t.Errorf("JSON (-want +got):\n%s", d)
			}
			var back bench.Interval
			require.NoError(t, json.Unmarshal(b, &back))
			if d := cmp.Diff(tt.iv, back); d != "" {
				t.Errorf("round trip (-want +got):\n%s", d)
			}
		})
	}
}
