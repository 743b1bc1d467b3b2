package model

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
)

// Info describes a model file: its format, the architecture figures read
// from its header, and every tensor with its type, shape and place in the
// file. Analyze fills it from headers, metadata and tensor infos only.
type Info struct {
	// Format is "gguf" or "llama2c".
	Format string
	// Version is the GGUF version (2 or 3) or the llama2.c export version
	// (0 for the legacy header-plus-float32 file, 1 for the float32 export,
	// 2 for the int8 group-quantized export).
	Version int
	// Architecture is general.architecture for GGUF ("llama") and "llama"
	// for llama2.c checkpoints.
	Architecture string
	// Name is general.name when present.
	Name string
	// Layers is the number of transformer blocks.
	Layers int
	// Embedding is the model (embedding) dimension.
	Embedding int
	// FeedForward is the hidden dimension of the feed-forward network.
	FeedForward int
	// Heads and KVHeads are the attention and key/value head counts.
	Heads, KVHeads int
	// HeadDim is the per-head key/value dimension (Embedding/Heads unless
	// the file says otherwise).
	HeadDim int
	// Vocab is the vocabulary size.
	Vocab int
	// Context is the training context length in tokens.
	Context int
	// Parameters is the number of weights over all tensors (llama2.c's
	// RoPE tables excluded).
	Parameters int64
	// Tensors lists every tensor in file order.
	Tensors []Tensor
	// WeightBytes is the sum of the tensors' data bytes, padding excluded.
	WeightBytes int64
	// BitsPerWeight is WeightBytes×8/Parameters.
	BitsPerWeight float64
	// FileSize is the size of the file in bytes.
	FileSize int64
	// DataOffset is where tensor data starts in the file.
	DataOffset int64
	// Alignment is the GGUF data alignment (general.alignment, default 32);
	// 0 for llama2.c files.
	Alignment int
	// GroupSize is the int8 quantization group of a llama2.c version 2
	// file, 0 otherwise.
	GroupSize int
	// SharedClassifier reports that the output projection reuses the token
	// embedding (no output.weight tensor).
	SharedClassifier bool
	// TokenizerBytes is the total length of the vocabulary strings stored in
	// the file (tokenizer.ggml.tokens), 0 when the file has no tokenizer.
	TokenizerBytes int64
	// Metadata holds the GGUF key/value pairs: numbers, bools and strings
	// up to 64 KiB as Go values; arrays as Array (length and element type
	// only); longer strings as Array with ElemType ValueString and Len the
	// string length.
	Metadata map[string]any
	// SHA256 is the hex SHA-256 of the whole file when requested with
	// AnalyzeOptions.SHA256; empty otherwise.
	SHA256 string
}

// MarshalJSON encodes the Info as encoding/json would by default, except
// that NaN and infinite metadata numbers, which JSON cannot represent and
// a hostile or broken file may hold, are written as the strings "NaN",
// "+Inf" and "-Inf" rather than failing the whole encoding.
func (i Info) MarshalJSON() ([]byte, error) {
	type plain Info // without this method
	for _, v := range i.Metadata {
		if !isNonFinite(v) {
			continue
		}
		m := make(map[string]any, len(i.Metadata))
		for k, v := range i.Metadata {
			if isNonFinite(v) {
				v = nonFiniteString(v)
			}
			m[k] = v
		}
		i.Metadata = m // i is a copy: the caller's Info is unchanged
		break
	}
	return json.Marshal(plain(i))
}

func isNonFinite(v any) bool {
	switch x := v.(type) {
	case float32:
		return math.IsNaN(float64(x)) || math.IsInf(float64(x), 0)
	case float64:
		return math.IsNaN(x) || math.IsInf(x, 0)
	}
	return false
}

func nonFiniteString(v any) string {
	var f float64
	switch x := v.(type) {
	case float32:
		f = float64(x)
	case float64:
		f = x
	}
	switch {
	case math.IsInf(f, 1):
		return "+Inf"
	case math.IsInf(f, -1):
		return "-Inf"
	}
	return "NaN"
}

// Tensor describes one tensor of a model file.
type Tensor struct {
	// Name is the tensor name; llama2.c tensors get their GGUF names
	// ("blk.0.attn_q.weight").
	Name string
	// Type is the element type. In a llama2.c version 2 file the quantized
	// tensors are TypeI8 with Info.GroupSize float32 scales after them.
	Type Type
	// Shape lists the dimensions ggml-style: Shape[0] is the row length
	// (the contiguous dimension).
	Shape []int64
	// Offset is the absolute file offset of the tensor's first byte.
	Offset int64
	// Bytes is the tensor's size in the file, scales included, padding not.
	Bytes int64
}

// Elements returns the number of elements in the tensor.
func (t Tensor) Elements() int64 {
	n := int64(1)
	for _, d := range t.Shape {
		n *= d
	}
	return n
}

// KVDim returns the key (or value) vector length per token per layer,
// KVHeads × HeadDim.
func (i *Info) KVDim() int { return i.KVHeads * i.HeadDim }

// KVCacheBytes returns the size of a KV cache for ctx tokens with
// bytesPerElem bytes per element: layers × ctx × kv_dim × 2 (keys and
// values) × bytes, the allocation of llama2.c's run.c (key_cache and
// value_cache) and of llama.cpp's llama-kv-cache.cpp for unquantized caches.
func (i *Info) KVCacheBytes(ctx int, bytesPerElem int) int64 {
	return int64(i.Layers) * int64(ctx) * int64(i.KVDim()) * 2 * int64(bytesPerElem)
}

// DominantType returns the tensor type that holds the most bytes of the
// model: its weight format, as a label or a cost model names it. Ties go
// to the type met first (F32 for a model with no tensors).
func (i *Info) DominantType() Type {
	bytesBy := map[Type]int64{}
	var best Type
	for _, t := range i.Tensors {
		bytesBy[t.Type] += t.Bytes
		if bytesBy[t.Type] > bytesBy[best] {
			best = t.Type
		}
	}
	return best
}

// Tensor returns the tensor called name and whether it exists.
func (i *Info) Tensor(name string) (Tensor, bool) {
	for _, t := range i.Tensors {
		if t.Name == name {
			return t, true
		}
	}
	return Tensor{}, false
}

// AnalyzeOptions selects optional, more expensive parts of an analysis.
type AnalyzeOptions struct {
	// SHA256 hashes the whole file, which reads all of it.
	SHA256 bool
}

// Analyze reads the model file at path: GGUF v2/v3, or a llama2.c
// checkpoint (legacy, version 1 or version 2). It reads only headers,
// metadata and tensor infos, so a multi-gigabyte file takes milliseconds
// and memory in proportion to its header. Errors for malformed files wrap
// ErrFormat; unknown tensor types wrap ErrUnknownType.
func Analyze(path string) (*Info, error) {
	return AnalyzeWith(context.Background(), path, AnalyzeOptions{})
}

// AnalyzeWith is Analyze with options; ctx bounds the SHA-256 pass.
func AnalyzeWith(ctx context.Context, path string, opts AnalyzeOptions) (*Info, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("analyze model: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("analyze model: %w", err)
	}
	info, err := AnalyzeReader(f, st.Size())
	if err != nil {
		return nil, fmt.Errorf("analyze %s: %w", path, err)
	}
	if opts.SHA256 {
		sum, err := hashReader(ctx, io.NewSectionReader(f, 0, st.Size()))
		if err != nil {
			return nil, fmt.Errorf("analyze %s: sha256: %w", path, err)
		}
		info.SHA256 = sum
	}
	return info, nil
}

// AnalyzeReader analyses the size bytes readable from r, like Analyze. It
// is safe on untrusted input: memory and time are bounded by size, and
// every malformed input is an error, never a panic.
func AnalyzeReader(r io.ReaderAt, size int64) (*Info, error) {
	var magic [4]byte
	if size < 4 {
		return nil, fmt.Errorf("%w: file is %d bytes, too short for any model format", ErrFormat, size)
	}
	if _, err := r.ReadAt(magic[:], 0); err != nil {
		return nil, fmt.Errorf("reading magic: %w", err)
	}
	var info *Info
	var err error
	switch {
	case string(magic[:]) == "GGUF":
		info, err = analyzeGGUF(r, size)
	case string(magic[:]) == "FUGG":
		err = fmt.Errorf("%w: big-endian GGUF files are not supported (ggml reads only its host byte order); convert the model on a little-endian machine", ErrFormat)
	case magic == [4]byte{0x32, 0x34, 0x6b, 0x61}:
		info, err = analyzeLlama2CVersioned(r, size)
	default:
		info, err = analyzeLlama2CLegacy(r, size)
		if err != nil {
			err = fmt.Errorf("not GGUF (magic %q) nor a llama2.c checkpoint: %w", magic[:], err)
		}
	}
	if err != nil {
		return nil, err
	}
	info.FileSize = size
	if info.Parameters > 0 {
		info.BitsPerWeight = float64(info.WeightBytes) * 8 / float64(info.Parameters)
	}
	return info, nil
}

// SHA256File returns the hex SHA-256 of the file at path. It reads the
// whole file and stops early when ctx is done.
func SHA256File(ctx context.Context, path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	return hashReader(ctx, f)
}

func hashReader(ctx context.Context, r io.Reader) (string, error) {
	h := sha256.New()
	buf := make([]byte, 1<<20)
	for {
		if err := ctx.Err(); err != nil {
			return "", err
		}
		n, err := r.Read(buf)
		h.Write(buf[:n])
		if err == io.EOF {
			return hex.EncodeToString(h.Sum(nil)), nil
		}
		if err != nil {
			return "", err
		}
	}
}
