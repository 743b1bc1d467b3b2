package eembc

import "time"

// RuleWindows and RuleMinWindow are MLPerf Tiny's performance rules: five
// windows, each at least ten seconds by the DUT's clock (MLCommons runner
// script.py, "error 1" and "error 2").
const (
	RuleWindows   = 5
	RuleMinWindow = 10 * time.Second
)

// Reference is how MLPerf Tiny's reference runs treat one benchmark model.
type Reference struct {
	// InputSize is the bytes of one input tensor the reference firmware's
	// th_load_tensor takes; any other size it refuses, with a complaint,
	// and infers on the tensor it had.
	InputSize int
	// Warmup is the untimed inferences before each window in the
	// reference's performance test (tests_performance.yaml).
	Warmup int
}

// references are the models of MLPerf Tiny's performance tests: the input
// sizes of the reference submissions' model settings (kws01 a 49×10 int8
// spectrogram, vww01 96×96×3 and ic01 32×32×3 int8 images, ad01 640 float32
// features) and the warm-ups of tests_performance.yaml (ad01 "infer 1500
// 10", ic01 "infer 20 5", kws01 "infer 70 10", vww01 "infer 20 5").
var references = map[string]Reference{
	"kws01": {InputSize: 490, Warmup: 10},
	"vww01": {InputSize: 96 * 96 * 3, Warmup: 5},
	"ic01":  {InputSize: 32 * 32 * 3, Warmup: 5},
	"ad01":  {InputSize: 640 * 4, Warmup: 10},
}

// ReferenceFor returns how the reference runs treat model (a DUT's
// m-model-[…]), and false for a model it does not know, such as strww01,
// whose test streams audio instead.
func ReferenceFor(model string) (Reference, bool) {
	r, ok := references[model]
	return r, ok
}
