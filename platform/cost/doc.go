// Package cost is tinyprof's cost model of llama2.c-style inference on a
// board: how long a token takes for a model shape, a weight format, where
// the weights live, how many cores run and at what clock. The simulated
// board (device/sim) and the planner (package plan) both call it, so the
// figures they give are the same numbers.
//
// A token costs the weight bytes it streams from each memory over that
// memory's bandwidth, plus the instructions of its kernels at the core's
// cycles per instruction, plus the KV cache it reads. Memory and compute
// add on a core that stalls on its cache misses, and overlap on one with
// prefetch (platform.Platform.Prefetch). The instructions come from the
// emulated boards' exact counts (kernels.json, DeriveKernels); the
// per-core figures are the catalogue's estimates; two global scales, one
// for compute and one for memory, are fitted to published measurements
// (Points) and checked by leave-one-out cross-validation, which also gives
// every prediction its interval.
//
// Every figure is modelled, not measured; Prediction says so, and says when
// a configuration lies outside what the published points cover.
package cost
