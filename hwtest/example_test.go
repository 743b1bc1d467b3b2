package hwtest_test

import (
	"bytes"
	"testing"

	"github.com/tinyprof/tinyprof/device/eembc"
	"github.com/tinyprof/tinyprof/hwtest"
)

// A test leases a board with one line and uses it as a *device.Device. In
// a plain go test the board is simulated; with -tags=hardware it is a real
// one from the inventory. The lease ends when the test does.
func TestExampleLease(t *testing.T) {
	dev := hwtest.Lease(t, hwtest.Platform("esp32s3"))

	rtt, err := dev.Ping(t.Context(), []byte("hello"))
	if err != nil {
		t.Fatal(err)
	}
	m, err := dev.Metrics(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%s (%s): ping %v, %d bytes of heap free", dev.Entry.ID, dev.Info().Firmware, rtt, m.FreeHeap)
}

// A test that needs two boards at once leases them together, so that two
// such tests never deadlock holding one each.
func TestExampleLeaseN(t *testing.T) {
	boards := hwtest.LeaseN(t, 2, hwtest.Platform("esp32s3"))
	if boards[0].Entry.ID == boards[1].Entry.ID {
		t.Fatal("the same board twice")
	}
}

// An MLPerf Tiny board (inventory `protocol: eembc`) is leased with
// LeaseEEMBC and scored with eembc.Run. In a plain go test it is a
// simulated DUT (sim-eembc-1 or -2), whose clock is virtual: five 10-s
// windows cost no real time.
func TestExampleLeaseEEMBC(t *testing.T) {
	b := hwtest.LeaseEEMBC(t)
	inputs := [][]byte{bytes.Repeat([]byte{1}, 490)} // one kws01 input, used for every window
	score, err := eembc.Run(t.Context(), b.Client, eembc.ScoreConfig{Inputs: inputs})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%s (%s): %.2f inf/s, %.2f ms/inf, valid %v", b.Entry.ID, b.DUTProfile.Model, score.MedianThroughput, score.LatencyMS, score.Valid)
	if hwtest.Simulated && score.LatencyMS != 16.76 {
		t.Errorf("latency %v ms, want the simulated DUT's 16.76 ms", score.LatencyMS)
	}
}

// A benchmark leases its board before the timed loop; b.Loop starts the
// timer on its first call, so the lease and health check are not measured.
func BenchmarkExampleLease(b *testing.B) {
	dev := hwtest.Lease(b, hwtest.Platform("esp32s3"))
	ctx := b.Context()
	for b.Loop() {
		if _, err := dev.Ping(ctx, []byte("x")); err != nil {
			b.Fatal(err)
		}
	}
}

// TestMain registers the -hwtest.* flags. (This package's own TestMain
// does so with RegisterFlags, as it also checks for goroutine leaks.)
func ExampleMain() {
	_ = func(m *testing.M) { hwtest.Main(m) }
}
