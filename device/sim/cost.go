package sim

import (
	"time"

	"github.com/tinyprof/tinyprof/model"
	"github.com/tinyprof/tinyprof/platform"
)

// The cost model. A small transformer on an MCU is memory-bound: every
// generated token streams all weights from wherever they live, so a token
// costs the weight bytes over that memory's bandwidth, plus the
// multiply-accumulates at the core's modelled cycles per MAC, plus reading
// the KV cache so far. The platform catalogue's bandwidths are calibrated
// so that llama2.c's stories260K (about 1 MB of float32 weights in PSRAM)
// decodes at about 19 tok/s on an ESP32-S3, as DaveBben/esp32-llm reports.
// Every figure this produces is modelled, not measured.

// costModel prices forward passes of one loaded model on one platform.
type costModel struct {
	p         platform.Platform
	weights   int64           // bytes streamed per token
	weightsIn platform.Region // where they live
	kvIn      platform.Region
	params    int64
	layers    int64
	dim       int64
	kvDim     int64
	vocab     int64
	seqLen    int // positions the KV cache holds
}

// forward returns the modelled duration of one forward pass at position pos.
func (c costModel) forward(pos int) time.Duration {
	hz := float64(c.p.CPUMHz) * 1e6
	macs := float64(c.params) + float64(c.layers*int64(pos)*c.dim*2)
	sec := float64(c.weights)/bw(c.p, c.weightsIn) + macs*c.p.CyclesPerMAC/hz
	kvRead := float64(c.layers * int64(pos) * c.kvDim * 2 * 4)
	sec += kvRead / bw(c.p, c.kvIn)
	sec += float64(c.vocab) * 10 / hz // sampling: a pass over the logits
	return time.Duration(sec * 1e9)
}

// reads adds what the forward pass at position pos reads from external
// memory to rd: the weights, and the KV cache so far.
func (c costModel) reads(pos int, rd *reads) {
	rd.add(c.weightsIn, float64(c.weights))
	rd.add(c.kvIn, float64(c.layers*int64(pos)*c.kvDim*2*4))
}

func bw(p platform.Platform, r platform.Region) float64 {
	if b := p.Bandwidth.Of(r); b > 0 {
		return b
	}
	return 1e9
}

// promptTokens is the modelled token count of a prompt: BOS plus one token
// per four bytes, about what a small BPE vocabulary gives on English.
func promptTokens(prompt string) int { return 1 + (len(prompt)+3)/4 }

// runStateBytes is the working memory of a llama2.c forward pass
// (run.c's RunState without the KV cache): x, xb, xb2 and q of dim
// floats, hb and hb2 of hidden_dim, att of heads×seq_len, logits of vocab.
func runStateBytes(i *model.Info, seqLen int) int64 {
	return 4 * (4*int64(i.Embedding) + 2*int64(i.FeedForward) + int64(i.Heads)*int64(seqLen) + int64(i.Vocab))
}
