package eembc_test

import (
	"fmt"

	"github.com/tinyprof/tinyprof/device/eembc"
)

// The STMicroelectronics NUCLEO-H7A3ZI-Q's kws01 window in tiny_results_v1.0:
// 800 inferences between m-lap-us-22037117 and m-lap-us-35444757.
func ExampleInference_Throughput() {
	in := eembc.Inference{N: 800, ElapsedUS: 35444757 - 22037117}
	fmt.Printf("%.3f inf/s, %.2f ms\n", in.Throughput(), 1000/in.Throughput())
	// Output: 59.667 inf/s, 16.76 ms
}
