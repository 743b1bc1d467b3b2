//go:build !hardware

package hwtest_test

import (
	"fmt"
	"testing"

	"github.com/tinyprof/tinyprof/firmware"
	"github.com/tinyprof/tinyprof/hwtest"
)

// Lease takes the testing.TB of the test or benchmark that uses the board,
// and ends the lease when it ends:
//
//	func TestPing(t *testing.T) {
//		dev := hwtest.Lease(t, hwtest.Platform("esp32s3"))
//		rtt, err := dev.Ping(t.Context(), []byte("hello"))
//		…
//	}
//
// An example has no test of its own, so this one lends Lease the
// *testing.B of testing.Benchmark, which calls the function a few times:
// each call is one lease. In a plain go test the board is a simulated
// ESP32-S3 behind a pseudo-terminal, freshly reset and health-checked;
// with -tags=hardware it would be a real one from the inventory.
func ExampleLease() {
	var info *firmware.Info
	var pingErr error
	testing.Benchmark(func(b *testing.B) {
		dev := hwtest.Lease(b, hwtest.Platform("esp32s3")) // released when b ends
		_, pingErr = dev.Ping(b.Context(), []byte("hello"))
		info = dev.Info()
	})
	if info == nil {
		fmt.Println("no board was leased")
		return
	}
	fmt.Println(info.Platform, info.Firmware)
	fmt.Println("simulated:", info.Capabilities.Simulated(), "ping error:", pingErr)
	// Output:
	// esp32s3 tinyprof-sim/0.1.0
	// simulated: true ping error: <nil>
}
