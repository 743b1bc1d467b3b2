package device_test

import (
	"bytes"
	"context"
	"fmt"
	"log"
	"time"

	"github.com/tinyprof/tinyprof/device"
	"github.com/tinyprof/tinyprof/device/sim"
	"github.com/tinyprof/tinyprof/fixtures"
)

// ExampleOpen opens a simulated ESP32-S3 through the real serial stack: the
// board sits behind a pseudo-terminal, and Open treats its path exactly as
// it would /dev/ttyUSB0. A board that says it is simulated must have its
// figures labelled so.
func ExampleOpen() {
	board, err := sim.Listen(sim.Options{Platform: "esp32s3"})
	if err != nil {
		log.Fatal(err)
	}
	defer board.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	d, err := device.Open(ctx, board.Path, device.Options{})
	if err != nil {
		log.Fatal(err)
	}
	defer d.Close()

	info := d.Info()
	fmt.Println("platform:", info.Platform)
	fmt.Println("chip:", info.Chip)
	fmt.Println("capabilities:", info.Capabilities)
	fmt.Println("simulated:", info.Capabilities.Simulated())
	// Output:
	// platform: esp32s3
	// chip: ESP32-S3 (simulated)
	// capabilities: power|cancel|psram|simulated
	// simulated: true
}

// ExampleDevice_Generate uploads a small llama2.c model to a simulated
// board on an in-memory line and generates with a fixed seed. The tokens
// are the same on every run; the timings are the board's own (here
// modelled, since the board is simulated).
func ExampleDevice_Generate() {
	tr, board, err := sim.Pipe(sim.Options{Platform: "esp32s3"})
	if err != nil {
		log.Fatal(err)
	}
	defer board.Close()
	d := device.New(tr, device.Options{})
	defer d.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := d.Hello(ctx); err != nil {
		log.Fatal(err)
	}
	model := fixtures.Llama2C(fixtures.Stories260K, fixtures.Seed)
	loaded, err := d.LoadModel(ctx, bytes.NewReader(model), int64(len(model)), device.LoadOptions{Name: "stories260k.bin"})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("weights in:", loaded.Region)

	g, err := d.Generate(ctx, device.GenerateRequest{Prompt: "Once upon a time", MaxTokens: 16, Seed: 42})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("tokens:", len(g.Tokens))
	fmt.Println("stop:", g.Summary.Stop)
	fmt.Println("retries:", g.Retries)
	// Output:
	// weights in: psram
	// tokens: 16
	// stop: length
	// retries: 0
}
