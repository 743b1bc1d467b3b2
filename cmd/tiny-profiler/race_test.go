//go:build race

package main

// raceEnabled lets TestFitAgreement upload fewer models under the race
// detector, which slows each upload's framing about sixfold; the
// concurrency the uploads exercise is the same for every model.
const raceEnabled = true
