// Package tinyprof makes profiling and testing small language models on
// microcontrollers and edge boards an ordinary `go test` / `go test -bench`
// job.
//
// The pieces, in the order dependencies flow:
//
//   - firmware: the host⇄device wire protocol (COBS frames with a CRC-32,
//     typed messages; spec in firmware/PROTOCOL.md, golden vectors in
//     firmware/testdata), its conformance suite, and the portable C device
//     agent that firmware links in (firmware/agent).
//   - device: the host side of one board. A Device speaks the protocol over
//     a Transport (a serial port, a pseudo-terminal, an in-memory pipe) and
//     returns typed results — Info, Ping, LoadModel, Generate with the
//     board's own token timestamps, Metrics — and typed errors that say what
//     to do. device/platform is the catalogue of boards; device/sim is a
//     simulated board behind a real pseudo-terminal, shaped like
//     net/http/httptest, whose figures are modelled and labelled so.
//   - hwtest: leases boards to tests across processes, with an inventory,
//     health checks and quarantine; simulated boards by default, real ones
//     under -tags=hardware.
//   - bench: the go test API — Generate, CheckLeaks, MLPerf — with the CLI's
//     profile report (bench/report: tables, JSON and the Go benchmark format
//     benchstat compares), comparison and gates (bench/compare) and charts
//     (bench/chart) beside it.
//   - model: reads GGUF and llama2.c files, estimates memory per platform,
//     and quantizes; fixtures makes deterministic tiny models.
//   - cmd/tiny-profiler: the CLI named by the incident runbook.
//
// Every timing comes from the board's clock, so the serial link does not
// pollute it. A simulated board sets the protocol's CapSimulated bit and
// every report says its figures are modelled, not measured.
package tinyprof
