package bench_test

import (
	"context"
	"fmt"

	"github.com/tinyprof/tinyprof/bench"
	"github.com/tinyprof/tinyprof/device"
	"github.com/tinyprof/tinyprof/device/sim"
	"github.com/tinyprof/tinyprof/monitor"
)

// ExampleMonitor polls a simulated ESP32-S3 once: its heap, and the power
// it models (labelled simulated).
func ExampleMonitor() {
	ctx := context.Background()
	tr, board, err := sim.Pipe(sim.Options{Platform: "esp32s3"})
	if err != nil {
		panic(err)
	}
	defer board.Close()
	dev := device.New(tr, device.Options{})
	defer dev.Close()
	if _, err := dev.Hello(ctx); err != nil {
		panic(err)
	}
	m := bench.Monitor(dev, monitor.Options{})
	u := m.Sample(ctx)
	s := u.Sample
	fmt.Println("ok:", s.OK, "simulated:", s.Simulated)
	fmt.Printf("idle power: %.1f mW (modelled)\n", s.PowerMW)
	// Output:
	// ok: true simulated: true
	// idle power: 104.6 mW (modelled)
}
