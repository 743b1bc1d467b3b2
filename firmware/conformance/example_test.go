package conformance_test

import (
	"context"
	"fmt"
	"log"
	"time"

	"github.com/tinyprof/tinyprof/device/sim"
	"github.com/tinyprof/tinyprof/firmware/conformance"
	"github.com/tinyprof/tinyprof/fixtures"
)

// ExampleTest runs the conformance suite against a simulated board on an
// in-memory line, uploading a small llama2.c model the board can run. A
// real board is checked the same way, with its serial port in place of the
// pipe; a nil error means the board conforms, and otherwise the error lists
// every problem found.
func ExampleTest() {
	line, board, err := sim.Pipe(sim.Options{Platform: "esp32s3"})
	if err != nil {
		log.Fatal(err)
	}
	defer board.Close()
	defer line.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	opts := conformance.Options{Model: fixtures.Llama2C(fixtures.Stories260K, fixtures.Seed), ModelName: "stories260k.bin"}
	if err := conformance.Test(ctx, line, opts); err != nil {
		fmt.Println("does not conform:", err)
		return
	}
	fmt.Println("conforms")
	// Output:
	// conforms
}
