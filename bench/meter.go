package bench

import (
	"context"

	"github.com/tinyprof/tinyprof/device"
)

// Meter is an external power meter (a PPK2, an LPM01A, a Joulescope) that
// Generate and the CLI's report (bench/report) read around every
// generation, given with WithMeter or report.Config.Meter. PowerMeter
// adapts any power.Meter to it.
//
// Begin starts metering just before a generation; End is given the
// generation the board reported (its own start time and durations) and
// returns the energy of that generation's window. Both are called from
// the benchmark's goroutine, one window at a time.
type Meter interface {
	// Name labels figures from this meter and says how windows are
	// found, e.g. "ppk2 /dev/ttyACM0, window by logic D0".
	Name() string
	Begin(ctx context.Context) error
	End(ctx context.Context, g *device.Generation) (Energy, error)
}

// Energy is one metered generation.
type Energy struct {
	// Joules is the energy over the window; JoulesMin and JoulesMax bound
	// it given the window's uncertainty and lost samples (both equal to
	// Joules when the meter states no uncertainty).
	Joules    float64 `json:"joules"`
	JoulesMin float64 `json:"joules_min"`
	JoulesMax float64 `json:"joules_max"`
	// Seconds is the window's length on the meter's clock.
	Seconds float64 `json:"seconds"`
	// Uncertainty is how far each edge of the window may be off, seconds.
	Uncertainty float64 `json:"uncertainty_seconds"`
	// PeakWatts is the largest sampled power in the window, 0 if unknown.
	PeakWatts float64 `json:"peak_watts,omitempty"`
	// IdleWatts is the board's average power while idle just before the
	// generation, 0 if not measured.
	IdleWatts float64 `json:"idle_watts,omitempty"`
	// Window says how the window was found: "logic D0", "event D7",
	// "clock alignment".
	Window string `json:"window,omitempty"`
	// Simulated is set when a simulated meter produced the figure.
	Simulated bool `json:"simulated,omitempty"`
}
