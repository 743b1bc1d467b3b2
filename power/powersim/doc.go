// Package powersim serves simulated power meters — a Nordic PPK2 and an
// ST LPM01A — behind real pseudo-terminals, speaking their protocols byte
// for byte, so that the drivers in power/ppk2 and power/lpm01a are tested
// through the real serial stack. Shaped like net/http/httptest: StartPPK2
// and StartLPM01A return a running meter whose Path a driver opens; Close
// (registered with t.Cleanup by the Start functions) stops it.
//
// The device under test is a caller-supplied Waveform: the current it
// draws and the state of the GPIO lines wired to the meter's logic or
// event inputs, as functions of the meter's time. Faults are set in the
// options before start: a meter that drops samples, stops answering, or
// answers with errors or another protocol.
//
// Every figure a simulated meter produces is modelled; Info().Simulated
// says so once a driver opens it with Simulated set.
package powersim

import (
	"time"

	"github.com/tinyprof/tinyprof/power"
)

// Reading is what the simulated device under test does at one instant.
type Reading struct {
	// Current is the current it draws.
	Current power.Current
	// Logic is the state of the lines wired to the meter: bit n to PPK2
	// input Dn; bit 0 to the LPM01A's D7 event input.
	Logic uint8
}

// Waveform returns the device's reading at meter time t (from the start
// of sampling). It is called from the meter's goroutine, in increasing t,
// and must be safe to call from there.
type Waveform func(t time.Duration) Reading

// Constant returns a waveform that draws i with all lines low.
func Constant(i power.Current) Waveform {
	return func(time.Duration) Reading { return Reading{Current: i} }
}

// Pulses returns a waveform that idles at idle and, in each of the given
// windows, draws active with logic bit 0 high: a board that raises its
// GPIO for each generation.
func Pulses(idle, active power.Current, windows ...[2]time.Duration) Waveform {
	return func(t time.Duration) Reading {
		for _, w := range windows {
			if t >= w[0] && t < w[1] {
				return Reading{Current: active, Logic: 1}
			}
		}
		return Reading{Current: idle}
	}
}
