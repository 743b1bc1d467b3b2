package bench

import "io"

// Option configures Generate and CheckLeaks. Each option's comment says
// which of the two it affects; the other ignores it.
type Option func(*settings)

type settings struct {
	prompt    string
	tokens    int
	seed      uint32
	modelName string
	quant     string
	meter     Meter
	config    io.Writer

	iterations int
	warmup     int
	tolerance  float64
	confidence float64
	maxSteps   int
}

func newSettings(opts []Option) settings {
	s := settings{prompt: "Once upon a time", tokens: 64, seed: 42, modelName: "model", quant: "unknown",
		iterations: 200, warmup: 5, tolerance: DefaultLeakTolerance, confidence: 0.99, maxSteps: 2}
	for _, o := range opts {
		o(&s)
	}
	return s
}

// Prompt sets the prompt of each generation (Generate). Default
// "Once upon a time".
func Prompt(p string) Option { return func(s *settings) { s.prompt = p } }

// Tokens sets the tokens generated per generation (Generate). Default 64.
// A generation that returns fewer fails the benchmark.
func Tokens(n int) Option { return func(s *settings) { s.tokens = n } }

// Seed sets the seed of the first generation; iteration i uses seed+i
// (Generate). Default 42.
func Seed(seed uint32) Option { return func(s *settings) { s.seed = seed } }

// ModelName and Quant label the model in configuration lines (Generate).
// Defaults "model" and "unknown".
func ModelName(name string) Option { return func(s *settings) { s.modelName = name } }

// Quant labels the weights' format, e.g. "q4_0" (Generate).
func Quant(q string) Option { return func(s *settings) { s.quant = q } }

// WithMeter measures energy with m, an external power meter, around every
// generation (Generate). Without one, power and energy are reported only
// when the board measures its own power.
func WithMeter(m Meter) Option { return func(s *settings) { s.meter = m } }

// ConfigTo sends Generate's configuration lines to w instead of standard
// output (Generate). It is for tests and examples that run benchmarks with
// testing.Benchmark; under go test -bench, keep the default so that the
// lines land in the output benchstat reads.
func ConfigTo(w io.Writer) Option { return func(s *settings) { s.config = w } }

// Iterations sets the measured iterations of CheckLeaks (default 200, at
// most MaxLeakIterations).
func Iterations(n int) Option { return func(s *settings) { s.iterations = n } }

// Warmup sets the unmeasured iterations CheckLeaks runs first (default 5),
// so that buffers allocated on first use are in place before sampling.
func Warmup(n int) Option { return func(s *settings) { s.warmup = n } }

// Tolerance sets the leak rate, in bytes per iteration, that CheckLeaks
// accepts (default DefaultLeakTolerance): it reports a leak only when the
// confidence interval of the rate lies wholly above it.
func Tolerance(bytesPerIteration float64) Option {
	return func(s *settings) { s.tolerance = bytesPerIteration }
}

// LeakConfidence sets the level of CheckLeaks' interval on the leak rate
// (default 0.99).
func LeakConfidence(c float64) Option { return func(s *settings) { s.confidence = c } }

// MaxSteps sets how many one-off steps down in free heap CheckLeaks
// forgives (default 2): more than that is memory lost in lumps, a leak.
func MaxSteps(n int) Option { return func(s *settings) { s.maxSteps = n } }
