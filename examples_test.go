package tinyprof_test

import (
	"bytes"
	"context"
	"fmt"
	"log"
	"os"
	"testing"

	"github.com/tinyprof/tinyprof/bench"
	"github.com/tinyprof/tinyprof/bench/report"
	"github.com/tinyprof/tinyprof/device"
	"github.com/tinyprof/tinyprof/device/sim"
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
	fmt.Println("board:", info.Platform, "simulated:", info.Capabilities.Simulated())

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
	// decode: about 45 tok/s (modelled)
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
	rep, err := report.Profile(ctx, dev, bytes.NewReader(model), int64(len(model)),
		report.Config{Runs: 5, Tokens: 16, ModelName: "stories260k", Quant: "f32"})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("simulated:", rep.Simulated, "runs:", len(rep.Runs))
	fmt.Printf("decode: %.0f tok/s\n", rep.Summary.DecodeTokPerSec.Center)
	// Output:
	// simulated: true runs: 5
	// decode: 118 tok/s
}

// Example_benchmark runs bench.Generate as go test -bench would, here
// under testing.Benchmark: the model is loaded once, outside the timed
// region, and every figure comes from the board's clock. In a _test.go
// file the same call sits in a BenchmarkXxx function, usually on a leased
// board:
//
//	func BenchmarkGenerate(b *testing.B) {
//		board := hwtest.Lease(b, hwtest.Platform("esp32s3"))
//		b.Run(bench.Name("esp32s3", "stories260k", "f32", 64), func(b *testing.B) {
//			bench.Generate(b, board, model, bench.Tokens(64), bench.ModelName("stories260k"), bench.Quant("f32"))
//		})
//	}
//
// and the configuration lines go to standard output, where benchstat reads
// them.
func Example_benchmark() {
	tr, board, err := sim.Pipe(sim.Options{Platform: "esp32p4"})
	if err != nil {
		log.Fatal(err)
	}
	defer board.Close()
	dev := device.New(tr, device.Options{})
	defer dev.Close()
	if _, err := dev.Hello(context.Background()); err != nil {
		log.Fatal(err)
	}
	model := fixtures.Llama2C(fixtures.Stories260K, fixtures.Seed)
	r := testing.Benchmark(func(b *testing.B) {
		bench.Generate(b, dev, model, bench.Tokens(16), bench.ModelName("stories260k"), bench.Quant("f32"),
			bench.ConfigTo(os.Stdout))
	})
	// Attention makes each token a little slower than the last, and the
	// p95 of however many runs testing.Benchmark chose interpolates among
	// the slowest: whole milliseconds do not depend on that count.
	fmt.Printf("%.0f tok/s, first token after %.0f ms, p95 inter-token latency %.0f ms (modelled)\n",
		r.Extra["tok/s"], r.Extra["ttft-ns"]/1e6, r.Extra["itl-p95-ns"]/1e6)
	// Output:
	// board: sim-esp32p4
	// platform: esp32p4
	// chip: ESP32-P4 (simulated)
	// firmware: tinyprof-sim/0.1.0
	// model: stories260k
	// model-sha256: 1ea05d9a378f2acd0c5adad64628c060aa7b34fe5aafb4bbe48802cc24472972
	// quant: f32
	// weights-in: psram
	// prompt: Once upon a time
	// simulated: true
	// emulated: false
	// power-source: none
	// Unit sec/op better=lower
	// Unit tok/s better=higher
	// Unit prefill-tok/s better=higher
	// Unit ttft-sec better=lower
	// Unit itl-p50-sec better=lower
	// Unit itl-p95-sec better=lower
	// Unit itl-p99-sec better=lower
	// Unit peak-heap-B better=lower
	// Unit peak-psram-B better=lower
	// Unit free-heap-after-B better=higher
	// Unit min-free-heap-gen-B better=higher
	// 118 tok/s, first token after 41 ms, p95 inter-token latency 9 ms (modelled)
}

// Example_leakCheck samples a leaking simulated board's free heap after
// each generation and analyses the series as bench.CheckLeaks does. In a
// test, CheckLeaks runs the loop and fails the test with the report:
//
//	bench.CheckLeaks(t, board, bench.GenerateWorkload(board, device.GenerateRequest{MaxTokens: 16}))
func Example_leakCheck() {
	tr, board, err := sim.Pipe(sim.Options{Faults: sim.Faults{LeakPerGenerate: 8, HeapNoise: 512, HeapStep: 4096, HeapStepAt: 50}})
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
	if _, err := dev.LoadModel(ctx, bytes.NewReader(model), int64(len(model)), device.LoadOptions{}); err != nil {
		log.Fatal(err)
	}
	work := bench.GenerateWorkload(dev, device.GenerateRequest{MaxTokens: 4})
	var series []bench.HeapSample
	for i := range 200 {
		if err := work(ctx, i); err != nil {
			log.Fatal(err)
		}
		m, err := dev.Metrics(ctx)
		if err != nil {
			log.Fatal(err)
		}
		series = append(series, bench.HeapSample{Iteration: i, FreeHeap: int64(m.FreeHeap), LargestFree: int64(m.LargestFree)})
	}
	rep, err := bench.AnalyzeLeaks(series)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("leak: %v, %.1f bytes per iteration (%.0f%% interval %.1f to %.1f)\n",
		rep.Leak, rep.Loss.Center, rep.Confidence*100, rep.Loss.Lo, rep.Loss.Hi)
	for _, s := range rep.Steps {
		fmt.Printf("one-off step of about %d KiB at iteration %d, not counted\n", (s.Bytes+512)/1024, s.Iteration)
	}
	// Output:
	// leak: true, 7.5 bytes per iteration (99% interval 6.5 to 8.5)
	// one-off step of about 4 KiB at iteration 49, not counted
}
