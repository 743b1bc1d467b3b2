package report_test

import (
	"bytes"
	"context"
	"fmt"
	"log"
	"strings"

	"github.com/tinyprof/tinyprof/bench/report"
	"github.com/tinyprof/tinyprof/device"
	"github.com/tinyprof/tinyprof/device/sim"
	"github.com/tinyprof/tinyprof/fixtures"
)

// ExampleProfile runs the measured series tiny-profiler benchmark runs on
// a simulated ESP32-P4 and writes it in the Go benchmark format, whose
// results bench/compare and benchstat read. The figures are modelled, so
// they repeat exactly.
func ExampleProfile() {
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
	fmt.Println("simulated:", rep.Simulated, "runs:", len(rep.Runs), "weights in:", rep.Model.Region)
	fmt.Printf("decode: %.0f tok/s, median of %d runs\n", rep.Summary.DecodeTokPerSec.Center, rep.Summary.DecodeTokPerSec.N)

	var out bytes.Buffer
	if err := rep.WriteBench(&out); err != nil {
		log.Fatal(err)
	}
	for _, line := range strings.Split(out.String(), "\n") {
		if strings.HasPrefix(line, "board:") || strings.HasPrefix(line, "Benchmark") {
			name, _, _ := strings.Cut(line, "\t")
			fmt.Println(name)
			if strings.HasPrefix(line, "Benchmark") {
				break
			}
		}
	}
	// Output:
	// simulated: true runs: 5 weights in: psram
	// decode: 118 tok/s, median of 5 runs
	// board: sim-esp32p4
	// BenchmarkGenerate/platform=esp32p4/model=stories260k/quant=f32/tokens=16
}
