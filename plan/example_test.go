package plan_test

import (
	"bytes"
	"fmt"

	"github.com/tinyprof/tinyprof/fixtures"
	"github.com/tinyprof/tinyprof/model"
	"github.com/tinyprof/tinyprof/plan"
	"github.com/tinyprof/tinyprof/platform"
)

// The runbook's PlatformOptimizer.optimize(model, use_psram=True,
// use_dual_core=True, cpu_freq_mhz=240): the fastest configuration of a
// stories15M-shaped model on an ESP32-S3, and the fastest configuration that does not fit.
func ExampleOptimize() {
	data := fixtures.Llama2C(fixtures.Stories15M, fixtures.Seed)
	info, _ := model.AnalyzeReader(bytes.NewReader(data), int64(len(data)))
	board, _ := platform.Lookup("esp32s3")
	pl, err := plan.Optimize(info, board, plan.Options{UsePSRAM: true, DualCore: true, CPUMHz: 240})
	if err != nil {
		fmt.Println(err)
		return
	}
	best, _ := pl.Best()
	fmt.Printf("%s: %.1f tok/s (modelled)\n", best.Config, best.Prediction.TokPerSec)
	fmt.Println("first rejected:", pl.Rejected[0].Format, "in", pl.Rejected[0].WeightsIn)
	// Output:
	// g2s256 weights=psram kv=psram ctx=256 cores=2 240MHz: 1.3 tok/s (modelled)
	// first rejected: q8_0 in sram
}
