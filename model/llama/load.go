package llama

import (
	"errors"
	"fmt"
	"io"
	"math"
	"os"

	"github.com/tinyprof/tinyprof/model"
)

// ErrUnsupported reports a well-formed model file that this runtime does
// not run: another architecture, or tensors in a type other than F32, Q8_0,
// Q4_0 and tinyprof's group-wise types (GGUF) or llama2.c's float32 and
// int8 groups.
var ErrUnsupported = errors.New("model not supported by the llama runtime")

// Config is the architecture of a loaded model.
type Config struct {
	Dim, Hidden, Layers, Heads, KVHeads, Vocab, SeqLen, HeadDim int
	// GroupSize is the int8 group of a llama2.c version 2 file, else 0.
	GroupSize int
	// Eps is the RMSNorm epsilon and RopeBase the RoPE frequency base
	// (1e-5 and 10000 unless a GGUF file says otherwise).
	Eps, RopeBase float32
	// Shared reports that the classifier is the token embedding.
	Shared bool
}

// KVDim returns KVHeads × HeadDim.
func (c Config) KVDim() int { return c.KVHeads * c.HeadDim }

// encoding is how a tensor's values are stored.
type encoding int

const (
	encF32  encoding = iota
	encQ8_0          // ggml block_q8_0: fp16 scale, 32 int8
	encQ4_0          // ggml block_q4_0: fp16 scale, 16 bytes of nibbles
	encI8G           // llama2.c v2: int8 values, then float32 scales per group
	encGW            // tinyprof group-wise (model/GROUPWISE.md): t.gw says bits, group, symmetry
)

// tensor locates one weight in Model.data.
type tensor struct {
	off, soff int
	enc       encoding
	gw        model.Groupwise // encGW only
}

type layer struct {
	attnNorm, wq, wk, wv, wo, ffnNorm, w1, w2, w3 tensor
}

// Model is a loaded llama model: its configuration and its file bytes,
// which the forward pass reads in place (quantized values are expanded as
// they are used, never stored). A Model is read-only and safe for
// concurrent use; each generation uses its own Runner.
type Model struct {
	cfg               Config
	data              []byte
	emb, outNorm, cls tensor
	layers            []layer
	params            int64
}

// Config returns the model's architecture.
func (m *Model) Config() Config { return m.cfg }

// Parameters returns the number of weights (RoPE tables excluded).
func (m *Model) Parameters() int64 { return m.params }

// Open loads the model file at path; see Load.
func Open(path string) (*Model, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("llama: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("llama: %w", err)
	}
	m, err := Load(f, st.Size())
	if err != nil {
		return nil, fmt.Errorf("llama: %s: %w", path, err)
	}
	return m, nil
}

// maxFile is the largest model the C runtime can address (32-bit lengths);
// Load holds Go to the same limit so the two accept the same files.
const maxFile = math.MaxUint32

// Load reads a llama2.c checkpoint (legacy, version 1 or 2) or a GGUF
// llama model from the size bytes of r, through model.AnalyzeReader, and
// keeps the bytes in memory. Malformed files are errors wrapping
// model.ErrFormat; models it cannot run wrap ErrUnsupported.
func Load(r io.ReaderAt, size int64) (*Model, error) {
	if size > maxFile {
		return nil, fmt.Errorf("%w: %d bytes; the runtime addresses models below 4 GiB", ErrUnsupported, size)
	}
	info, err := model.AnalyzeReader(r, size)
	if err != nil {
		return nil, err
	}
	if info.Architecture != "llama" {
		return nil, fmt.Errorf("%w: architecture %q, this runtime runs llama", ErrUnsupported, info.Architecture)
	}
	cfg, err := configOf(info)
	if err != nil {
		return nil, err
	}
	data := make([]byte, size)
	if _, err := r.ReadAt(data, 0); err != nil && !(errors.Is(err, io.EOF) && len(data) == int(size)) {
		return nil, fmt.Errorf("reading model: %w", err)
	}
	m := &Model{cfg: cfg, data: data}
	if err := m.bind(info); err != nil {
		return nil, err
	}
	return m, nil
}

func configOf(info *model.Info) (Config, error) {
	c := Config{
		Dim: info.Embedding, Hidden: info.FeedForward, Layers: info.Layers, Heads: info.Heads, KVHeads: info.KVHeads,
		Vocab: info.Vocab, SeqLen: info.Context, GroupSize: info.GroupSize, Eps: 1e-5, RopeBase: 10000,
		Shared: info.SharedClassifier,
	}
	for _, f := range []struct {
		name string
		v    int
	}{{"embedding length", c.Dim}, {"feed-forward length", c.Hidden}, {"layers", c.Layers}, {"heads", c.Heads},
		{"kv heads", c.KVHeads}, {"vocabulary", c.Vocab}, {"context", c.SeqLen}} {
		if f.v <= 0 || f.v > 1<<20 {
			return c, fmt.Errorf("%w: %s %d is outside 1..%d", model.ErrFormat, f.name, f.v, 1<<20)
		}
	}
	if c.Dim%c.Heads != 0 || c.KVHeads > c.Heads || c.Heads%c.KVHeads != 0 {
		return c, fmt.Errorf("%w: dim %d, %d heads and %d kv heads do not divide", model.ErrFormat, c.Dim, c.Heads, c.KVHeads)
	}
	c.HeadDim = c.Dim / c.Heads
	if c.HeadDim%2 != 0 {
		return c, fmt.Errorf("%w: head size %d is odd; RoPE rotates pairs", ErrUnsupported, c.HeadDim)
	}
	if info.Format != "gguf" {
		return c, nil
	}
	if info.HeadDim != c.HeadDim {
		return c, fmt.Errorf("%w: head size %d is not dim/heads %d", ErrUnsupported, info.HeadDim, c.HeadDim)
	}
	for _, k := range []string{"llama.rope.dimension_count", "llama.attention.value_length"} {
		if v, ok := info.Metadata[k]; ok && fmt.Sprint(v) != fmt.Sprint(c.HeadDim) {
			return c, fmt.Errorf("%w: %s is %v, not the head size %d (partial RoPE is not supported)", ErrUnsupported, k, v, c.HeadDim)
		}
	}
	if v, ok := info.Metadata["llama.attention.layer_norm_rms_epsilon"]; ok {
		f, isF := v.(float32)
		if !isF || !(f > 0 && f < 1) {
			return c, fmt.Errorf("%w: layer_norm_rms_epsilon %v is not a float32 in (0, 1)", model.ErrFormat, v)
		}
		c.Eps = f
	}
	if v, ok := info.Metadata["llama.rope.freq_base"]; ok {
		f, isF := v.(float32)
		if !isF || !(f >= 1 && f < 1e30) {
			return c, fmt.Errorf("%w: rope.freq_base %v is not a float32 in [1, 1e30)", model.ErrFormat, v)
		}
		c.RopeBase = f
	}
	return c, nil
}

// bind finds every weight the forward pass reads and checks its shape,
// type and extent.
func (m *Model) bind(info *model.Info) error {
	c := m.cfg
	byName := make(map[string]model.Tensor, len(info.Tensors))
	for _, t := range info.Tensors {
		byName[t.Name] = t
	}
	get := func(name string, in, out int) (tensor, error) {
		t, ok := byName[name]
		if !ok {
			return tensor{}, fmt.Errorf("%w: tensor %s is missing", model.ErrFormat, name)
		}
		want := []int64{int64(in)}
		if out > 0 {
			want = append(want, int64(out))
		}
		if fmt.Sprint(t.Shape) != fmt.Sprint(want) {
			return tensor{}, fmt.Errorf("%w: tensor %s has shape %v, want %v", model.ErrFormat, name, t.Shape, want)
		}
		x := tensor{off: int(t.Offset)}
		n := int(t.Elements())
		switch t.Type {
		case model.TypeF32:
			x.enc = encF32
		case model.TypeQ8_0, model.TypeQ4_0:
			if out == 0 {
				return tensor{}, fmt.Errorf("%w: norm %s is %s; the runtime reads norms as F32", ErrUnsupported, name, t.Type)
			}
			x.enc = map[model.Type]encoding{model.TypeQ8_0: encQ8_0, model.TypeQ4_0: encQ4_0}[t.Type]
		case model.TypeI8:
			if info.GroupSize <= 0 || n%info.GroupSize != 0 {
				return tensor{}, fmt.Errorf("%w: int8 tensor %s is not whole groups of %d", model.ErrFormat, name, info.GroupSize)
			}
			x.enc, x.soff = encI8G, x.off+n
		default:
			g, ok := t.Type.Groupwise()
			if !ok {
				return tensor{}, fmt.Errorf("%w: tensor %s is %s; the runtime reads F32, Q8_0, Q4_0 and the group-wise types", ErrUnsupported, name, t.Type)
			}
			if out == 0 {
				return tensor{}, fmt.Errorf("%w: norm %s is %s; the runtime reads norms as F32", ErrUnsupported, name, t.Type)
			}
			x.enc, x.gw = encGW, g
		}
		if t.Offset < 0 || t.Offset+t.Bytes > int64(len(m.data)) {
			return tensor{}, fmt.Errorf("%w: tensor %s lies past the end of the file", model.ErrFormat, name)
		}
		return x, nil
	}
	var err error
	bindTo := func(dst *tensor, name string, in, out int) {
		if err == nil {
			*dst, err = get(name, in, out)
		}
	}
	d, h, kv, v := c.Dim, c.Hidden, c.KVDim(), c.Vocab
	bindTo(&m.emb, "token_embd.weight", d, v)
	bindTo(&m.outNorm, "output_norm.weight", d, 0)
	if c.Shared {
		m.cls = m.emb
	} else {
		bindTo(&m.cls, "output.weight", d, v)
	}
	m.layers = make([]layer, c.Layers)
	for l := range m.layers {
		L := &m.layers[l]
		p := fmt.Sprintf("blk.%d.", l)
		bindTo(&L.attnNorm, p+"attn_norm.weight", d, 0)
		bindTo(&L.wq, p+"attn_q.weight", d, d)
		bindTo(&L.wk, p+"attn_k.weight", d, kv)
		bindTo(&L.wv, p+"attn_v.weight", d, kv)
		bindTo(&L.wo, p+"attn_output.weight", d, d)
		bindTo(&L.ffnNorm, p+"ffn_norm.weight", d, 0)
		bindTo(&L.w1, p+"ffn_gate.weight", d, h)
		bindTo(&L.w2, p+"ffn_down.weight", h, d)
		bindTo(&L.w3, p+"ffn_up.weight", d, h)
	}
	if err != nil {
		return err
	}
	m.params = int64(c.Layers)*int64(2*d+2*d*kv+2*d*d+3*d*h) + int64(d) + int64(d)*int64(v)
	if !c.Shared {
		m.params += int64(d) * int64(v)
	}
	return nil
}
