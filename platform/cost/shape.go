package cost

import "github.com/tinyprof/tinyprof/model"

// Shape is the architecture of a llama2.c-style transformer, what the cost
// of a forward pass depends on.
type Shape struct {
	Layers  int `json:"layers"`
	Dim     int `json:"dim"`
	Hidden  int `json:"hidden"`
	Heads   int `json:"heads"`
	KVHeads int `json:"kv_heads"`
	HeadDim int `json:"head_dim"`
	Vocab   int `json:"vocab"`
}

// ShapeOf returns the shape of a model read by package model.
func ShapeOf(info *model.Info) Shape {
	s := Shape{Layers: info.Layers, Dim: info.Embedding, Hidden: info.FeedForward,
		Heads: info.Heads, KVHeads: info.KVHeads, HeadDim: info.HeadDim, Vocab: info.Vocab}
	if s.KVHeads == 0 {
		s.KVHeads = s.Heads
	}
	if s.HeadDim == 0 && s.Heads > 0 {
		s.HeadDim = s.Dim / s.Heads
	}
	return s
}

// KVDim is the width of one position's keys (or values) in one layer.
func (s Shape) KVDim() int64 { return int64(s.KVHeads) * int64(s.HeadDim) }

// MatmulWeights is the number of weights one token multiplies: per layer
// the query, key, value and output projections and the three feed-forward
// matrices, then the classifier. The token embedding is a row lookup, not
// a product, and is not counted.
func (s Shape) MatmulWeights() int64 {
	d, h, q := int64(s.Dim), int64(s.Hidden), int64(s.Heads)*int64(s.HeadDim)
	perLayer := d*q + 2*d*s.KVDim() + q*d + 3*d*h
	return int64(s.Layers)*perLayer + int64(s.Vocab)*d
}

// ActivationUnits counts the per-token work that is not a weight: per
// layer two RMS norms and the residual adds (2·dim), the SwiGLU (hidden),
// RoPE (dim), the attention scores and the weighted sum of values over
// pos+1 positions (2·heads·head_dim each), and the softmax; then the
// logits pass of the sampler (vocab). The kernels' InstrPerUnit prices one
// unit; it is fitted, so the weights between the terms need only be
// proportional to the work, not exact.
func (s Shape) ActivationUnits(pos float64) float64 {
	d, h := float64(s.Dim), float64(s.Hidden)
	attn := 2 * float64(s.Heads) * float64(s.HeadDim) * (pos + 1)
	return float64(s.Layers)*(3*d+h+attn+float64(s.Heads)*(pos+1)) + float64(s.Vocab)
}

// KVBytesRead is what the attention at position pos reads from the KV
// cache: keys and values of pos+1 positions in every layer.
func (s Shape) KVBytesRead(pos int, bytesPerElem int) float64 {
	return float64(s.Layers) * float64(pos+1) * float64(s.KVDim()) * 2 * float64(bytesPerElem)
}

// F32Weights is how many of the weights info's matrix products multiply
// are float32 in a file whose format is f: matrices a quantizer kept in
// float32 because their rows are not whole blocks or groups (model.Quantize
// and the fixtures keep Stories260K's feed-forward down projection, rows of
// 172, in F32). 0 for a float32 or llama2.c file, whose matrices are all
// of one type. The token embedding, a row lookup, is not counted.
func F32Weights(info *model.Info, f Format) int64 {
	if f.Llama2C || f.Type == model.TypeF32 {
		return 0
	}
	var n int64
	for _, t := range info.Tensors {
		if len(t.Shape) < 2 || t.Type != model.TypeF32 || isEmbedding(t.Name) {
			continue
		}
		e := int64(1)
		for _, d := range t.Shape {
			e *= d
		}
		n += e
	}
	return n
}

// isEmbedding reports the token embedding's tensor, in GGUF's name or
// llama2.c's.
func isEmbedding(name string) bool {
	return name == "token_embd.weight" || name == "tok_embeddings.weight"
}
