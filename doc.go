// Package tinyprof makes profiling and testing small language models on
// microcontrollers and edge boards an ordinary `go test` / `go test -bench`
// job.
//
// The pieces, in the order dependencies flow (a test in this package,
// TestDependencyDirection, keeps the direction true):
//
//   - firmware: the host⇄device wire protocol (COBS frames with a CRC-32,
//     typed messages; spec in firmware/PROTOCOL.md, golden vectors in
//     firmware/testdata). It is a leaf. Beside it: firmware/conformance, the
//     suite every board must pass; firmware/agent, the portable C device
//     agent; firmware/flash, which writes images to boards.
//   - device: the host side of one board. A Device speaks the protocol over
//     a Transport (a serial port, a pseudo-terminal, an in-memory pipe) and
//     returns typed results — Info, Ping, LoadModel, Generate with the
//     board's own token timestamps, Metrics — and typed errors that say what
//     to do. device/sim is a simulated board behind a real pseudo-terminal,
//     shaped like net/http/httptest, whose figures are modelled and labelled
//     so; device/eembc speaks MLPerf Tiny's EEMBC runner protocol.
//   - lab: a lab of boards — the inventory, lab.Connect (the one way to open
//     a real or simulated board), leases across processes behind a small
//     Store interface, health checks and quarantine — for the CLI and hwtest.
//   - hwtest: what a test calls to lease a board (hwtest.Lease); simulated
//     boards by default, the inventory's real ones under -tags=hardware.
//   - bench: the go test API — Generate, CheckLeaks, MLPerf — which imports
//     neither hwtest nor lab and links no plotting code. Beside it:
//     bench/report (the CLI's profile: tables, JSON and the Go benchmark
//     format benchstat compares), bench/compare (comparison and gates) and
//     bench/chart (SVG/PNG charts).
//   - cmd/tiny-profiler: the CLI named by the incident runbook.
//
// Leaves that many of these read: platform (the catalogue of boards),
// serialport (opening, locking and finding serial ports, shared by the
// board client and the meter drivers), power (units, energy over windows,
// waveforms; drivers in power/ppk2 and power/lpm01a, one registry in
// power/meters), model (GGUF and llama2.c files, memory fit, quantizers),
// and runbook (severities, time spans and changes as the runbook writes
// them, for journal, monitor and the gates). fixtures makes deterministic
// tiny models.
//
// Every timing comes from the board's clock, so the serial link does not
// pollute it. A simulated board sets the protocol's CapSimulated bit and
// every report says its figures are modelled, not measured.
package tinyprof
