package sim

import (
	"time"

	"github.com/tinyprof/tinyprof/model"
	"github.com/tinyprof/tinyprof/platform"
	"github.com/tinyprof/tinyprof/platform/cost"
)

// The cost model is package platform/cost's, the one the planner uses, so
// that a simulated board and `tiny-profiler plan` give the same numbers.
// The simulated board runs tinyprof's own runtime: its matrix products
// split over the platform's cores (Platform.Cores, which the board's
// options may lower), without vendor SIMD kernels. Every figure this
// produces is modelled, not measured.

// costModel prices forward passes of one loaded model on one platform.
type costModel struct {
	cfg    cost.Config
	ok     bool // cfg.Check passed; otherwise forward uses the fallback
	seqLen int  // positions the KV cache holds
}

// newCostModel prices info on p with weights[r] bytes of weights read
// from each region r and its KV cache in kvIn.
func newCostModel(p platform.Platform, info *model.Info, weights map[platform.Region]int64, kvIn platform.Region, seqLen int) costModel {
	f, err := cost.FormatOf(info)
	if err != nil {
		// A type without a kernel of its own (the IQ types): price it as
		// the 4-bit kernel, the nearest in work per weight.
		f, _ = cost.LookupFormat("q4_0")
	}
	cfg := cost.Config{Platform: p, Shape: cost.ShapeOf(info), Format: f, Parameters: info.Parameters, F32Weights: cost.F32Weights(info, f),
		WeightBytes: weights, KVIn: kvIn, Cores: p.Cores}
	return costModel{cfg: cfg, ok: cfg.Check() == nil, seqLen: seqLen}
}

// weightBytes is what the forward pass streams from each region, as
// model.Fit placed the tensors: a tensor group copied into SRAM is read
// there, the rest where the file is stored.
func weightBytes(place *model.FitReport) map[platform.Region]int64 {
	out := map[platform.Region]int64{}
	for _, r := range []platform.Region{platform.SRAM, platform.PSRAM, platform.Flash} {
		if n := place.Bytes(model.KindWeights, r); n > 0 {
			out[r] = n
		}
	}
	return out
}

// forward returns the modelled duration of one forward pass at position pos.
func (c costModel) forward(pos int) time.Duration {
	if !c.ok {
		// Not reached for a catalogue platform; a board must still answer.
		return time.Duration(float64(c.cfg.Parameters)) * time.Nanosecond
	}
	return c.cfg.Forward(pos)
}

// reads adds what the forward pass at position pos reads from external
// memory to rd: the weights the matrix products stream, and the KV cache
// so far.
func (c costModel) reads(pos int, rd *reads) {
	s := c.cfg.Shape
	share := 1.0
	if c.cfg.Parameters > 0 {
		share = min(1, float64(s.MatmulWeights())/float64(c.cfg.Parameters))
	}
	for r, b := range c.cfg.WeightBytes {
		rd.add(r, share*float64(b))
	}
	rd.add(c.cfg.KVIn, s.KVBytesRead(pos, 4))
}

// promptTokens is the modelled token count of a prompt: BOS plus one token
// per four bytes, about what a small BPE vocabulary gives on English.
func promptTokens(prompt string) int { return 1 + (len(prompt)+3)/4 }

// bw is region r's modelled bandwidth, for loading a model into it.
func bw(p platform.Platform, r platform.Region) float64 {
	if b := p.Bandwidth.Of(r); b > 0 {
		return b
	}
	return 1e9
}
