package cost_test

import (
	"fmt"

	"github.com/tinyprof/tinyprof/platform"
	"github.com/tinyprof/tinyprof/platform/cost"
)

// Price stories260K in float32 in the quad PSRAM of an ESP32-S3FH4R2 on
// both cores with ESP-DSP, as DaveBben/esp32-llm runs it.
func ExamplePredict() {
	p, _ := platform.Lookup("esp32s3-fh4r2")
	f, _ := cost.LookupFormat("f32")
	shape := cost.Shape{Layers: 5, Dim: 64, Hidden: 172, Heads: 8, KVHeads: 4, HeadDim: 8, Vocab: 512}
	w := shape.MatmulWeights()
	c := cost.Config{Platform: p, Shape: shape, Format: f, Parameters: w,
		WeightBytes: map[platform.Region]int64{platform.PSRAM: 4 * w}, KVIn: platform.PSRAM, Cores: 2, SIMD: true}
	pr, err := cost.Predict(c, 1, 256)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(pr.Interval())
	// Output:
	// 19.1 tok/s (13.3–27.5)
}
