// Package power reads power meters and turns their samples into energy per
// generation and per token.
//
// The package is small on purpose, like periph.io's conn packages: it holds
// the Meter interface every driver implements, the physical units (Current,
// Voltage, Power, Energy) with SI-prefixed String methods, and the energy
// arithmetic (Integrate over a Window, Idle power, windows found from a
// meter's logic inputs or from a clock alignment with its uncertainty).
// Drivers live beside it: power/ppk2 (Nordic Power Profiler Kit II) and
// power/lpm01a (ST X-NUCLEO-LPM01A PowerShield). power/powersim serves
// simulated meters that speak both protocols byte for byte behind a real
// pseudo-terminal, and power/powermodel is the per-platform power model the
// simulated board uses (its figures are modelled, and say so).
//
// A figure is never made up: a window with no samples, a meter that does
// not report a voltage, or a platform with no cited power figures is an
// error, not a zero.
//
// Energy follows MLPerf Tiny's method (mlcommons/tiny
// benchmark/runner/main.py): integrate between two hardware timestamp
// edges, divide by the work done. Here the integral is a trapezoid on the
// sampled current times voltage.
package power
