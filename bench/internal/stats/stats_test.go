package stats_test

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/tinyprof/tinyprof/bench/internal/stats"
)

func TestQuantile(t *testing.T) {
	v := []float64{1, 2, 3, 4, 5}
	for _, tt := range []struct{ q, want float64 }{{0, 1}, {0.5, 3}, {0.95, 4.8}, {1, 5}} {
		assert.InDelta(t, tt.want, stats.Quantile(v, tt.q), 1e-12, "q=%v", tt.q)
	}
	assert.Zero(t, stats.Quantile(nil, 0.5))
	assert.InDelta(t, 3.0, stats.Mean(v), 1e-12)
}
