//go:build race

package model

// raceEnabled lets the slowest data checks run fewer cases under the race
// detector, which slows the quantizers' inner loops about tenfold; the
// concurrency they exercise is the same for every case.
const raceEnabled = true
