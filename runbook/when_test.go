package runbook

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseTime(t *testing.T) {
	now := time.Date(2026, 11, 26, 14, 30, 0, 0, time.UTC)
	tests := []struct {
		in   string
		want time.Time
	}{
		{"2 hours ago", now.Add(-2 * time.Hour)},
		{"90 minutes ago", now.Add(-90 * time.Minute)},
		{"1 hour ago", now.Add(-time.Hour)},
		{"30 sec ago", now.Add(-30 * time.Second)},
		{"1 day ago", now.Add(-24 * time.Hour)},
		{"1h30m ago", now.Add(-90 * time.Minute)},
		{"2h", now.Add(-2 * time.Hour)},
		{"5min ago", now.Add(-5 * time.Minute)},
		{"500 ms ago", now.Add(-500 * time.Millisecond)},
		{"now", now},
		{"today", time.Date(2026, 11, 26, 0, 0, 0, 0, time.UTC)},
		{"yesterday", time.Date(2026, 11, 25, 0, 0, 0, 0, time.UTC)},
		{"2026-11-26T12:00:00Z", time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)},
		{"2026-11-26T13:00:00+01:00", time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)},
		{"2026-11-26 12:05", time.Date(2026, 11, 26, 12, 5, 0, 0, time.UTC)},
		{"2026-11-26", time.Date(2026, 11, 26, 0, 0, 0, 0, time.UTC)},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseTime(tt.in, now)
			require.NoError(t, err)
			assert.True(t, tt.want.Equal(got), "want %v, got %v", tt.want, got)
		})
	}
	for _, bad := range []string{"", "soon", "2 fortnights ago", "-2h", "2026-13-45", "x hours ago"} {
		t.Run("bad "+bad, func(t *testing.T) {
			_, err := ParseTime(bad, now)
			require.Error(t, err)
		})
	}
}

func TestParseSpan(t *testing.T) {
	for in, want := range map[string]time.Duration{"5 minutes": 5 * time.Minute, "10 minutes": 10 * time.Minute, "30s": 30 * time.Second, "2 seconds": 2 * time.Second, "1h30m": 90 * time.Minute} {
		got, err := ParseSpan(in)
		require.NoError(t, err, in)
		assert.Equal(t, want, got, in)
	}
	for _, bad := range []string{"0s", "forever", ""} {
		_, err := ParseSpan(bad)
		assert.Error(t, err, bad)
	}
}
