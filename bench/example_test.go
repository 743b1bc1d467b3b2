package bench_test

import (
	"bytes"
	"context"
	"fmt"
	"log"
	"os"
	"testing"

	"github.com/tinyprof/tinyprof/bench"
	"github.com/tinyprof/tinyprof/device"
	"github.com/tinyprof/tinyprof/device/sim"
	"github.com/tinyprof/tinyprof/fixtures"
)

// openSim returns a simulated board on an in-memory transport that has
// answered Hello, and a function that closes both.
func openSim(opts sim.Options) (*device.Device, func()) {
	tr, board, err := sim.Pipe(opts)
	if err != nil {
		log.Fatal(err)
	}
	dev := device.New(tr, device.Options{})
	if _, err := dev.Hello(context.Background()); err != nil {
		log.Fatal(err)
	}
	return dev, func() { dev.Close(); board.Close() }
}

// ExampleGenerate runs Generate as go test -bench would, here under
// testing.Benchmark on a simulated board. In a _test.go file the call sits
// in a BenchmarkXxx function, on a leased board:
//
//	func BenchmarkGenerate(b *testing.B) {
//		board := hwtest.Lease(b, hwtest.Platform("esp32s3"))
//		b.Run(bench.Name("esp32s3", "stories260k", "f32", 16), func(b *testing.B) {
//			bench.Generate(b, board, model, bench.Tokens(16), bench.ModelName("stories260k"), bench.Quant("f32"))
//		})
//	}
//
// and the configuration lines go to standard output, where benchstat reads
// them. Every figure is the board's; this board's are modelled.
func ExampleGenerate() {
	dev, done := openSim(sim.Options{Platform: "esp32p4"})
	defer done()
	model := fixtures.Llama2C(fixtures.Stories260K, fixtures.Seed)
	r := testing.Benchmark(func(b *testing.B) {
		bench.Generate(b, dev, model, bench.Tokens(16), bench.ModelName("stories260k"), bench.Quant("f32"),
			bench.ConfigTo(os.Stdout))
	})
	fmt.Println("BenchmarkGenerate/" + bench.Name("esp32p4", "stories260k", "f32", 16))
	fmt.Printf("%.0f tok/s, first token after %.0f ms (modelled)\n", r.Extra["tok/s"], r.Extra["ttft-ns"]/1e6)
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
	// BenchmarkGenerate/platform=esp32p4/model=stories260k/quant=f32/tokens=16
	// 118 tok/s, first token after 41 ms (modelled)
}

// exampleTB stands in for the *testing.T a test passes to CheckLeaks: it
// keeps what CheckLeaks reports, and an artifact directory, so that the
// example prints only the verdict.
type exampleTB struct {
	testing.TB
	dir    string
	failed bool
}

func (*exampleTB) Helper()                     {}
func (*exampleTB) Context() context.Context    { return context.Background() }
func (e *exampleTB) ArtifactDir() string       { return e.dir }
func (*exampleTB) Logf(string, ...any)         {}
func (e *exampleTB) Errorf(string, ...any)     { e.failed = true }
func (e *exampleTB) Fatalf(f string, a ...any) { log.Fatalf(f, a...) }
func (e *exampleTB) Fatal(a ...any)            { log.Fatal(a...) }

// ExampleCheckLeaks checks a simulated board that loses 8 bytes of heap
// every generation, among noise and a one-off 4 KiB step. In a test it is
//
//	bench.CheckLeaks(t, board, bench.GenerateWorkload(board, device.GenerateRequest{MaxTokens: 4}))
//
// which fails t with the leak report and keeps the series in
// t.ArtifactDir().
func ExampleCheckLeaks() {
	dev, done := openSim(sim.Options{Faults: sim.Faults{LeakPerGenerate: 8, HeapNoise: 512, HeapStep: 4096, HeapStepAt: 50}})
	defer done()
	model := fixtures.Llama2C(fixtures.Stories260K, fixtures.Seed)
	if _, err := dev.LoadModel(context.Background(), bytes.NewReader(model), int64(len(model)), device.LoadOptions{}); err != nil {
		log.Fatal(err)
	}
	dir, err := os.MkdirTemp("", "checkleaks")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	t := &exampleTB{dir: dir}

	rep := bench.CheckLeaks(t, dev, bench.GenerateWorkload(dev, device.GenerateRequest{MaxTokens: 4}))
	fmt.Printf("test failed: %v; leak: %v, %.1f bytes per iteration (%.0f%% interval %.1f to %.1f)\n",
		t.failed, rep.Leak, rep.Loss.Center, rep.Loss.Confidence*100, rep.Loss.Lo, rep.Loss.Hi)
	for _, s := range rep.Steps {
		fmt.Printf("one-off step of about %d KiB at iteration %d, not counted\n", (s.Bytes+512)/1024, s.Iteration)
	}
	_, err = os.Stat(dir + "/heap.csv")
	fmt.Println("series kept:", err == nil)
	// Output:
	// test failed: true; leak: true, 7.6 bytes per iteration (99% interval 6.5 to 8.6)
	// one-off step of about 4 KiB at iteration 49, not counted
	// series kept: true
}
