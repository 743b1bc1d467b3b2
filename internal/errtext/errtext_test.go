package errtext

import (
	"errors"
	"testing"
)

func TestFormat(t *testing.T) {
	for _, tt := range []struct {
		got, want string
	}{
		{Format("device", "/dev/ttyUSB0", "ping", "timeout", errors.New("no answer after 2s"), "check the cable"),
			"device /dev/ttyUSB0: ping: timeout: no answer after 2s (check the cable)"},
		{Format("power", "", "", "no samples", nil, ""), "power: no samples"},
	} {
		if tt.got != tt.want {
			t.Errorf("got %q, want %q", tt.got, tt.want)
		}
	}
}
