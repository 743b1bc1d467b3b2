package tinyprof_test

import (
	"bytes"
	"context"
	"fmt"
	"log"

	"github.com/tinyprof/tinyprof/bench"
	"github.com/tinyprof/tinyprof/device"
	"github.com/tinyprof/tinyprof/device/sim"
	"github.com/tinyprof/tinyprof/firmware"
	"github.com/tinyprof/tinyprof/fixtures"
)

// Example shows the whole flow on a simulated ESP32-S3: open the board
// through the real serial stack, upload the built-in stories260K-class
// model, and generate with the board's own timestamps.
func Example() {
	board, err := sim.Listen(sim.Options{Platform: "esp32s3"})
	if err != nil {
		log.Fatal(err)
	}
	defer board.Close()

	ctx := context.Background()
	dev, err := device.Open(ctx, board.Path, device.Options{}) // a /dev/pts/N, like /dev/ttyUSB0
	if err != nil {
		log.Fatal(err)
	}
	defer dev.Close()
	info := dev.Info()
	fmt.Println("board:", info.Platform, "simulated:", info.Capabilities&firmware.CapSimulated != 0)

	model := fixtures.Llama2C(fixtures.Stories260K, fixtures.Seed)
	res, err := dev.LoadModel(ctx, bytes.NewReader(model), int64(len(model)), device.LoadOptions{Name: "stories260k.bin"})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("weights in:", res.Region)

	g, err := dev.Generate(ctx, device.GenerateRequest{Prompt: "Once upon a time", MaxTokens: 32, Seed: 1})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("tokens:", len(g.Tokens))
	fmt.Printf("decode: about %.0f tok/s (modelled)\n", g.DecodeTokensPerSecond())
	// Output:
	// board: esp32s3 simulated: true
	// weights in: psram
	// tokens: 32
	// decode: about 18 tok/s (modelled)
}

// Example_profile runs the measured series the CLI's benchmark command
// runs, and prints it in the Go benchmark format for benchstat.
func Example_profile() {
	tr, board, err := sim.Pipe(sim.Options{Platform: "esp32p4"})
	if err != nil {
		log.Fatal(err)
	}
	defer board.Close()
	dev := device.New(tr, device.Options{})
	defer dev.Close()
	ctx := context.Background()
	if _, err := dev.Hello(ctx); err != nil {
		log.Fatal(err)
	}
	model := fixtures.Llama2C(fixtures.Stories260K, fixtures.Seed)
	rep, err := bench.Profile(ctx, dev, bytes.NewReader(model), int64(len(model)),
		bench.Config{Runs: 5, Tokens: 16, ModelName: "stories260k", Quant: "f32"})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("simulated:", rep.Simulated, "runs:", len(rep.Runs))
	fmt.Printf("decode: %.0f tok/s\n", rep.Summary.DecodeTokPerSec.Median)
	// Output:
	// simulated: true runs: 5
	// decode: 80 tok/s
}
