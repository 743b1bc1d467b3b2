package llama_test

import (
	"testing"

	"github.com/tinyprof/tinyprof/model/llama"
)

// BenchmarkForward measures one token of each fixture format at position
// 15 of a 16-position context (the cost grows with the position only in
// attention).
func BenchmarkForward(b *testing.B) {
	for _, name := range []string{"stories260k.bin", "stories260k-q80.bin", "stories260k-q8_0.gguf", "stories260k-q4_0.gguf"} {
		b.Run(name, func(b *testing.B) {
			m := open(b, name)
			r := m.NewRunner(16)
			for pos := range 15 {
				if _, err := r.Forward(1, pos); err != nil {
					b.Fatal(err)
				}
			}
			for b.Loop() {
				if _, err := r.Forward(1, 15); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(m.Parameters())/b.Elapsed().Seconds()*float64(b.N)/1e6, "Mparam/s")
		})
	}
}

// BenchmarkSample measures top-p sampling over the 512-token vocabulary
// against greedy, the baseline.
func BenchmarkSample(b *testing.B) {
	logits := make([]float32, 512)
	for i := range logits {
		logits[i] = float32(i%37) / 10
	}
	work := make([]float32, len(logits))
	for _, tc := range []struct {
		name string
		s    *llama.Sampler
	}{{"greedy", llama.NewSampler(0, 0, 0, 1)}, {"top-p", llama.NewSampler(0.8, 0.9, 0, 1)}} {
		b.Run(tc.name, func(b *testing.B) {
			for b.Loop() {
				copy(work, logits)
				tc.s.Sample(work)
			}
		})
	}
}
