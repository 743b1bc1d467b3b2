//go:build race

package llama_test

// raceEnabled lets arithmetic-only checks that run many forward passes
// skip under the race detector, which slows them about twentyfold; they
// exercise no concurrency.
const raceEnabled = true
