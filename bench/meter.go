package bench

import "context"

// Meter is an external power meter (a PPK2, an LPM01A, a Joulescope) that
// Generate reads around every generation, given with WithMeter. It is the
// extension point for the power package: the smallest interface that gives
// energy per token.
//
// Begin starts integrating the board's energy; End stops and returns what
// was used since Begin. Both are called from the benchmark's goroutine,
// one window at a time. The window is the host's Generate call, so it also
// holds the link's time: energy per token includes the board's idle
// energy while tokens travel to the host.
type Meter interface {
	// Name labels figures from this meter, e.g. "ppk2 SN 4A3F1C".
	Name() string
	Begin(ctx context.Context) error
	End(ctx context.Context) (Energy, error)
}

// Energy is one metered window.
type Energy struct {
	Joules  float64
	Seconds float64 // the window's length on the meter's clock
}
