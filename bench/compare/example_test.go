package compare_test

import (
	"fmt"
	"log"
	"os"
	"strings"

	"github.com/tinyprof/tinyprof/bench/compare"
)

// ExampleCompare compares two small benchmark files, as go test -bench or
// tiny-profiler benchmark --format bench writes them, and applies the
// runbook's gate on decode throughput.
func ExampleCompare() {
	const old = `board: sim-esp32s3
platform: esp32s3
simulated: true
BenchmarkGenerate/platform=esp32s3/model=stories260k/quant=f32/tokens=16-2 1 100 ns/op 20.1 tok/s
BenchmarkGenerate/platform=esp32s3/model=stories260k/quant=f32/tokens=16-2 1 101 ns/op 20.3 tok/s
BenchmarkGenerate/platform=esp32s3/model=stories260k/quant=f32/tokens=16-2 1 102 ns/op 19.9 tok/s
BenchmarkGenerate/platform=esp32s3/model=stories260k/quant=f32/tokens=16-2 1 100 ns/op 20.0 tok/s
BenchmarkGenerate/platform=esp32s3/model=stories260k/quant=f32/tokens=16-2 1 103 ns/op 20.2 tok/s
BenchmarkGenerate/platform=esp32s3/model=stories260k/quant=f32/tokens=16-2 1 101 ns/op 20.1 tok/s
`
	// The same case from the CLI: no -GOMAXPROCS suffix, 15% slower.
	const new = `board: sim-esp32s3
platform: esp32s3
simulated: true
BenchmarkGenerate/platform=esp32s3/model=stories260k/quant=f32/tokens=16 1 118 ns/op 17.1 tok/s
BenchmarkGenerate/platform=esp32s3/model=stories260k/quant=f32/tokens=16 1 119 ns/op 17.2 tok/s
BenchmarkGenerate/platform=esp32s3/model=stories260k/quant=f32/tokens=16 1 117 ns/op 17.0 tok/s
BenchmarkGenerate/platform=esp32s3/model=stories260k/quant=f32/tokens=16 1 120 ns/op 16.9 tok/s
BenchmarkGenerate/platform=esp32s3/model=stories260k/quant=f32/tokens=16 1 118 ns/op 17.1 tok/s
BenchmarkGenerate/platform=esp32s3/model=stories260k/quant=f32/tokens=16 1 119 ns/op 17.0 tok/s
`
	c, err := compare.Compare(strings.NewReader(old), strings.NewReader(new), "old.txt", "new.txt", compare.Options{})
	if err != nil {
		log.Fatal(err)
	}
	if err := c.WriteTable(os.Stdout); err != nil {
		log.Fatal(err)
	}
	gates, err := compare.ParseGates("tokens/s < -10%")
	if err != nil {
		log.Fatal(err)
	}
	verdicts, err := c.Check(gates)
	if err != nil {
		log.Fatal(err)
	}
	for _, v := range verdicts {
		fmt.Println("gate", v)
	}
	fmt.Println("failed:", compare.Failed(verdicts))
	// Output:
	// old.txt: board sim-esp32s3, platform esp32s3, simulated true
	// new.txt: board sim-esp32s3, platform esp32s3, simulated true
	// simulated: figures are modelled, not measured
	//
	// sec/op (time per generation)
	// benchmark                                                        old.txt      new.txt      vs base
	// Generate/platform=esp32s3/model=stories260k/quant=f32/tokens=16  101.0n ± 2%  118.5n ± 1%  +17.33% (p=0.002 n=6+6)
	//
	// tok/s (decode throughput)
	// benchmark                                                        old.txt     new.txt     vs base
	// Generate/platform=esp32s3/model=stories260k/quant=f32/tokens=16  20.10 ± 1%  17.05 ± 1%  -15.17% (p=0.002 n=6+6)
	// gate tokens/s < -10%: Generate/platform=esp32s3/model=stories260k/quant=f32/tokens=16 20.10 tok/s → 17.05 tok/s (0.848x), p=0.002: regression
	// failed: true
}
