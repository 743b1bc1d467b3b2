package model

import (
	"encoding/binary"
	"fmt"
	"io"
	"math"
)

// Llama2CConfig is the header of a llama2.c checkpoint: the seven int32
// fields of run.c's Config plus the shared-classifier flag.
//
// Facts from karpathy/llama2.c: export.py (legacy_export, version1_export,
// version2_export) writes the files; run.c and runq.c
// (memory_map_weights, read_checkpoint) read them.
type Llama2CConfig struct {
	Dim       int // transformer dimension
	HiddenDim int // feed-forward hidden dimension
	Layers    int
	Heads     int
	KVHeads   int
	Vocab     int // vocabulary size, positive
	SeqLen    int // maximum sequence length
	// Shared reports that the classifier reuses the token embedding. The
	// legacy header stores it as the sign of the vocabulary size
	// (negative = not shared); versions 1 and 2 store a flag byte.
	Shared bool
}

// llama2c file constants (export.py).
const (
	llama2cMagic      = 0x616b3432 // "ak42"
	llama2cHeaderV1   = 256
	llama2cLegacySize = 28
	llama2cMaxDim     = 1 << 20 // sanity bound on every header field
)

// Validate reports whether the config describes a model llama2.c can run.
func (c Llama2CConfig) Validate() error {
	for _, f := range []struct {
		name string
		v    int
	}{{"dim", c.Dim}, {"hidden_dim", c.HiddenDim}, {"n_layers", c.Layers}, {"n_heads", c.Heads}, {"n_kv_heads", c.KVHeads}, {"vocab_size", c.Vocab}, {"seq_len", c.SeqLen}} {
		if f.v <= 0 || f.v > llama2cMaxDim {
			return fmt.Errorf("%w: llama2.c header field %s = %d is outside 1..%d", ErrFormat, f.name, f.v, llama2cMaxDim)
		}
	}
	if c.Dim%c.Heads != 0 {
		return fmt.Errorf("%w: llama2.c header: dim %d is not a multiple of n_heads %d", ErrFormat, c.Dim, c.Heads)
	}
	if c.KVHeads > c.Heads || c.Heads%c.KVHeads != 0 {
		return fmt.Errorf("%w: llama2.c header: n_heads %d is not a multiple of n_kv_heads %d", ErrFormat, c.Heads, c.KVHeads)
	}
	return nil
}

// KVDim returns dim × n_kv_heads / n_heads, as run.c computes kv_dim.
func (c Llama2CConfig) KVDim() int { return c.Dim * c.KVHeads / c.Heads }

// llama2cWeight is one logical weight of the model in export order.
type llama2cWeight struct {
	name  string
	shape []int64 // ggml order: row length first
	quant bool    // matrix, int8-quantized in version 2
}

// llama2cWeights lists the weights in the order a file of the given version
// stores them; the legacy order is run.c's memory_map_weights, version 1
// is version1_export, version 2 is version2_export and runq.c.
func llama2cWeights(c Llama2CConfig, version int) []llama2cWeight {
	d, h, kv, v := int64(c.Dim), int64(c.HiddenDim), int64(c.KVDim()), int64(c.Vocab)
	per := func(suffix string, shape []int64, quant bool) []llama2cWeight {
		out := make([]llama2cWeight, c.Layers)
		for l := range out {
			out[l] = llama2cWeight{fmt.Sprintf("blk.%d.%s", l, suffix), shape, quant}
		}
		return out
	}
	emb := llama2cWeight{"token_embd.weight", []int64{d, v}, true}
	attnNorm := per("attn_norm.weight", []int64{d}, false)
	ffnNorm := per("ffn_norm.weight", []int64{d}, false)
	outNorm := llama2cWeight{"output_norm.weight", []int64{d}, false}
	mats := [][]llama2cWeight{
		per("attn_q.weight", []int64{d, d}, true),
		per("attn_k.weight", []int64{d, kv}, true),
		per("attn_v.weight", []int64{d, kv}, true),
		per("attn_output.weight", []int64{d, d}, true),
	}
	ffn := [][]llama2cWeight{
		per("ffn_gate.weight", []int64{d, h}, true), // w1
		per("ffn_down.weight", []int64{h, d}, true), // w2
		per("ffn_up.weight", []int64{d, h}, true),   // w3
	}
	var ws []llama2cWeight
	if version == 0 {
		ws = append(ws, emb)
		ws = append(ws, attnNorm...)
		for _, m := range mats {
			ws = append(ws, m...)
		}
		ws = append(ws, ffnNorm...)
		for _, m := range ffn {
			ws = append(ws, m...)
		}
		ws = append(ws, outNorm)
		half := int64(c.SeqLen) * (d / int64(c.Heads) / 2)
		ws = append(ws, llama2cWeight{"rope_freqs.cos", []int64{half}, false}, llama2cWeight{"rope_freqs.sin", []int64{half}, false})
	} else {
		ws = append(ws, attnNorm...)
		ws = append(ws, ffnNorm...)
		ws = append(ws, outNorm, emb)
		for _, m := range append(mats, ffn...) {
			ws = append(ws, m...)
		}
	}
	if !c.Shared {
		ws = append(ws, llama2cWeight{"output.weight", []int64{d, v}, true})
	}
	return ws
}

// isRopeTable reports a legacy file's precomputed RoPE table, which is not
// a model parameter.
func isRopeTable(name string) bool { return name == "rope_freqs.cos" || name == "rope_freqs.sin" }

// llama2cTensors lays out the tensors of a file and returns them with the
// total file size. In version 2 the quantized weights are I8 followed by
// their float32 group scales.
func llama2cTensors(c Llama2CConfig, version, groupSize int) ([]Tensor, int64, error) {
	off := int64(llama2cHeaderV1)
	if version == 0 {
		off = llama2cLegacySize
	}
	ws := llama2cWeights(c, version)
	ts := make([]Tensor, 0, len(ws))
	// In version 2 the float32 norms come first, then the quantized tensors.
	for _, w := range ws {
		t := Tensor{Name: w.name, Type: TypeF32, Shape: w.shape, Offset: off}
		n := t.Elements()
		t.Bytes = 4 * n
		if version == 2 && w.quant {
			if groupSize <= 0 || n%int64(groupSize) != 0 {
				return nil, 0, fmt.Errorf("%w: llama2.c v2 group size %d does not divide the %d elements of %s", ErrFormat, groupSize, n, w.name)
			}
			t.Type = TypeI8
			t.Bytes = n + 4*(n/int64(groupSize))
		}
		off += t.Bytes
		ts = append(ts, t)
	}
	return ts, off, nil
}

func analyzeLlama2CLegacy(r io.ReaderAt, size int64) (*Info, error) {
	var h [llama2cLegacySize]byte
	if size < llama2cLegacySize {
		return nil, fmt.Errorf("%w: %d bytes is shorter than the 28-byte llama2.c header", ErrFormat, size)
	}
	if _, err := r.ReadAt(h[:], 0); err != nil {
		return nil, fmt.Errorf("reading llama2.c header: %w", err)
	}
	c := readLlama2CConfig(h[:])
	c.Shared = true
	if c.Vocab < 0 {
		c.Shared = false
		c.Vocab = -c.Vocab
	}
	return llama2cInfo(c, 0, 0, size)
}

func analyzeLlama2CVersioned(r io.ReaderAt, size int64) (*Info, error) {
	var h [41]byte
	if size < llama2cHeaderV1 {
		return nil, fmt.Errorf("%w: llama2.c magic \"ak42\" but the file is %d bytes, shorter than the 256-byte header; the file is truncated", ErrFormat, size)
	}
	if _, err := r.ReadAt(h[:], 0); err != nil {
		return nil, fmt.Errorf("reading llama2.c header: %w", err)
	}
	version := int(int32(binary.LittleEndian.Uint32(h[4:])))
	c := readLlama2CConfig(h[8:36])
	c.Shared = h[36] != 0
	gs := 0
	switch version {
	case 1:
	case 2:
		gs = int(int32(binary.LittleEndian.Uint32(h[37:])))
		if gs <= 0 || gs > llama2cMaxDim {
			return nil, fmt.Errorf("%w: llama2.c v2 group size %d is not positive", ErrFormat, gs)
		}
	default:
		return nil, fmt.Errorf("%w: llama2.c export version %d; this reader knows versions 1 and 2 (and the legacy header-only format)", ErrFormat, version)
	}
	return llama2cInfo(c, version, gs, size)
}

func readLlama2CConfig(h []byte) Llama2CConfig {
	f := func(i int) int { return int(int32(binary.LittleEndian.Uint32(h[4*i:]))) }
	return Llama2CConfig{Dim: f(0), HiddenDim: f(1), Layers: f(2), Heads: f(3), KVHeads: f(4), Vocab: f(5), SeqLen: f(6)}
}

func llama2cInfo(c Llama2CConfig, version, gs int, size int64) (*Info, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	// Check the size in closed form before laying out what may be millions
	// of tensors claimed by a tiny corrupt file.
	if est := llama2cSizeEstimate(c, version, gs); math.Abs(est-float64(size)) > 0.5 {
		return nil, fmt.Errorf("%w: llama2.c v%d header (dim %d, hidden %d, %d layers, vocab %d, seq_len %d) needs a %.0f-byte file, but it is %d bytes; the file is truncated or not a llama2.c checkpoint",
			ErrFormat, version, c.Dim, c.HiddenDim, c.Layers, c.Vocab, c.SeqLen, est, size)
	}
	ts, want, err := llama2cTensors(c, version, gs)
	if err != nil {
		return nil, err
	}
	if want != size {
		return nil, fmt.Errorf("%w: llama2.c v%d header (dim %d, hidden %d, %d layers, vocab %d, seq_len %d) needs a %d-byte file, but it is %d bytes; the file is truncated or not a llama2.c checkpoint",
			ErrFormat, version, c.Dim, c.HiddenDim, c.Layers, c.Vocab, c.SeqLen, want, size)
	}
	info := &Info{
		Format: "llama2c", Version: version, Architecture: "llama",
		Layers: c.Layers, Embedding: c.Dim, FeedForward: c.HiddenDim,
		Heads: c.Heads, KVHeads: c.KVHeads, HeadDim: c.Dim / c.Heads,
		Vocab: c.Vocab, Context: c.SeqLen, Tensors: ts, GroupSize: gs,
		SharedClassifier: c.Shared, DataOffset: ts[0].Offset,
	}
	for _, t := range ts {
		if isRopeTable(t.Name) {
			continue
		}
		info.Parameters += t.Elements()
		info.WeightBytes += t.Bytes
	}
	return info, nil
}

// llama2cSizeEstimate is the file size llama2cTensors would compute, in
// float64 so that absurd headers cannot overflow.
func llama2cSizeEstimate(c Llama2CConfig, version, gs int) float64 {
	d, h, kv, v, l := float64(c.Dim), float64(c.HiddenDim), float64(c.KVDim()), float64(c.Vocab), float64(c.Layers)
	q := v*d + l*(2*d*d+2*d*kv+3*d*h)
	if !c.Shared {
		q += v * d
	}
	n := 2*l*d + d
	switch version {
	case 0:
		return llama2cLegacySize + 4*(q+n+2*float64(c.SeqLen)*float64(c.Dim/c.Heads/2))
	case 1:
		return llama2cHeaderV1 + 4*(q+n)
	}
	return llama2cHeaderV1 + 4*n + q + 4*q/float64(gs)
}

// llama2cHeader encodes the file header for a version (0, 1 or 2).
func llama2cHeader(c Llama2CConfig, version, groupSize int) []byte {
	le := binary.LittleEndian
	vocab := c.Vocab
	if version == 0 {
		if !c.Shared {
			vocab = -vocab
		}
		h := make([]byte, llama2cLegacySize)
		for i, v := range []int{c.Dim, c.HiddenDim, c.Layers, c.Heads, c.KVHeads, vocab, c.SeqLen} {
			le.PutUint32(h[4*i:], uint32(int32(v)))
		}
		return h
	}
	h := make([]byte, llama2cHeaderV1)
	le.PutUint32(h[0:], llama2cMagic)
	le.PutUint32(h[4:], uint32(version))
	for i, v := range []int{c.Dim, c.HiddenDim, c.Layers, c.Heads, c.KVHeads, vocab, c.SeqLen} {
		le.PutUint32(h[8+4*i:], uint32(int32(v)))
	}
	if c.Shared {
		h[36] = 1
	}
	if version == 2 {
		le.PutUint32(h[37:], uint32(int32(groupSize)))
	}
	return h
}
