package runbook_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tinyprof/tinyprof/runbook"
)

func TestParseChange(t *testing.T) {
	tests := []struct {
		in      string
		want    float64
		wantErr string
	}{
		{"2x", 2, ""},
		{" 1.5x ", 1.5, ""},
		{"+10%", 1.1, ""},
		{"-10%", 0.9, ""},
		{"0x", 0, "positive ratio"},
		{"-100%", 0, "above -100%"},
		{"Infx", 0, "positive ratio"},
		{"NaN%", 0, "above -100%"},
		{"2", 0, "needs a unit"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := runbook.ParseChange(tt.in)
			if tt.wantErr != "" {
				require.ErrorContains(t, err, tt.wantErr)
				return
			}
			require.NoError(t, err)
			assert.InDelta(t, tt.want, got, 1e-12)
		})
	}
}
