package power

import "time"

// Reading is what a device under test does at one instant, as a power
// meter sees it: the current it draws and the state of the GPIO lines wired
// to the meter's logic or event inputs.
type Reading struct {
	// Current is the current it draws.
	Current Current
	// Logic is the state of the lines wired to the meter: bit n to PPK2
	// input Dn; bit 0 to the LPM01A's D7 event input.
	Logic uint8
}

// Waveform returns the device's reading at meter time t (from the start
// of sampling). A simulated meter calls it from its own goroutine, in
// increasing t, so it must be safe to call from there. A simulated board
// (device/sim) produces one; the simulated meters (power/powersim) consume
// it, so neither imports the other.
type Waveform func(t time.Duration) Reading

// Constant returns a waveform that draws i with all lines low.
func Constant(i Current) Waveform {
	return func(time.Duration) Reading { return Reading{Current: i} }
}

// Pulses returns a waveform that idles at idle and, in each of the given
// windows, draws active with logic bit 0 high: a board that raises its
// GPIO for each generation.
func Pulses(idle, active Current, windows ...[2]time.Duration) Waveform {
	return func(t time.Duration) Reading {
		for _, w := range windows {
			if t >= w[0] && t < w[1] {
				return Reading{Current: active, Logic: 1}
			}
		}
		return Reading{Current: idle}
	}
}
