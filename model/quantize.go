package model

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"runtime"
	"slices"
	"strings"

	"github.com/tinyprof/tinyprof/internal/atomicfile"
)

// QuantizeOptions selects the output of Quantize.
type QuantizeOptions struct {
	// Type is the ggml type of the quantized tensors of a GGUF output:
	// TypeQ8_0, TypeQ4_0, TypeQ4_1, TypeQ5_0, TypeQ5_1, TypeQ2_K, TypeQ4_K
	// (or TypeF16, TypeBF16, TypeF32), or a group-wise type
	// (GroupwiseType), which only tinyprof's runtimes read. For Llama2C
	// output it must be left zero or be TypeQ8_0: that format is int8 only.
	Type Type
	// Llama2C writes a llama2.c version 2 checkpoint (int8 with a float32
	// scale per group, export.py's format for runq.c) instead of GGUF.
	Llama2C bool
	// GroupSize is the quantization group. For GGUF it must be 0 or the
	// block size of Type (ggml fixes it per type; a group-wise Type names
	// its group, see GroupwiseType). For Llama2C it must divide
	// dim and every matrix; 0 means 64, halved until it divides dim, as
	// export.py does.
	GroupSize int
	// Keep reports tensors that stay in their source precision. Nil means
	// DefaultKeep. A tensor whose rows are not whole blocks of Type falls
	// back to the nearest type whose block fits (see FallbackType).
	Keep func(name string, shape []int64) bool
	// Workers bounds the goroutines that read, convert and measure chunks
	// at the same time; each has up to two chunks of about 1 MiB of
	// buffers in flight. Zero means runtime.GOMAXPROCS(0), at most
	// DefaultMaxWorkers; 1 does all the work in the calling goroutine. The
	// output is byte-identical, and the report equal, for every value.
	Workers int
}

// DefaultMaxWorkers caps the default QuantizeOptions.Workers, so that the
// buffers in flight stay near 16 MiB however many CPUs the machine has.
const DefaultMaxWorkers = 8

// DefaultKeep keeps 1-D tensors (norms, biases) in source precision and
// quantizes every matrix, embeddings included: llama.cpp's rule
// (llama_model_quantize_impl quantizes only tensors with two or more
// dimensions) and llama2.c's version 2 export.
func DefaultKeep(name string, shape []int64) bool { return len(shape) < 2 }

// KeepEmbeddings is DefaultKeep that also keeps the token embedding and the
// output projection, the two tensors most sensitive to quantization.
func KeepEmbeddings(name string, shape []int64) bool {
	return DefaultKeep(name, shape) || name == "token_embd.weight" || name == "output.weight"
}

// TypeForBits returns the GGUF type the CLI's --bits means: 8 → Q8_0,
// 4 → Q4_0, 2 → Q2_K.
func TypeForBits(bits int) (Type, error) {
	switch bits {
	case 8:
		return TypeQ8_0, nil
	case 4:
		return TypeQ4_0, nil
	case 2:
		return TypeQ2_K, nil
	}
	return 0, fmt.Errorf("--bits %d: use 8 (q8_0), 4 (q4_0) or 2 (q2_k)", bits)
}

// FallbackType returns the type a tensor with rows of row elements gets
// when want is asked for: want itself when its block divides the row;
// otherwise llama.cpp's substitute (llama_tensor_get_type in
// src/llama-quant.cpp: Q2_K → IQ4_NL, for which tinyprof uses Q4_0 of the
// same 4.5 bits per weight; Q4_K → Q5_0), and F16 when that does not fit
// either. src is the tensor's type: a 16-bit float source stays as it is
// rather than being converted between F16 and BF16. A group-wise want
// falls back as FallbackGroupwise says.
func FallbackType(want Type, row int64, src Type) Type {
	if _, ok := want.Groupwise(); ok {
		return FallbackGroupwise(want, row, src)
	}
	fits := func(t Type) bool { return t.BlockSize() > 0 && row%t.BlockSize() == 0 }
	if fits(want) {
		return want
	}
	switch want {
	case TypeQ2_K:
		if fits(TypeQ4_0) {
			return TypeQ4_0
		}
	case TypeQ4_K:
		if fits(TypeQ5_0) {
			return TypeQ5_0
		}
	}
	if src == TypeF16 || src == TypeBF16 {
		return src
	}
	return TypeF16
}

// TensorQuant reports one tensor of a quantization.
type TensorQuant struct {
	Name        string
	From, To    Type // To is TypeI8 for llama2.c int8 groups
	Elements    int64
	BytesBefore int64
	BytesAfter  int64
	// RMSE, MaxAbs and Relative measure the error of the quantized values
	// against the source: root mean square, largest absolute, and RMSE over
	// the root mean square of the source. Zero for kept tensors. They are
	// always finite: Quantize fails rather than write a tensor whose
	// values do not survive the conversion.
	RMSE, MaxAbs, Relative float64
	// Kept says why the tensor was not converted, "" if it was.
	Kept string
	// Fallback says why the tensor was converted to To rather than to the
	// type asked for, "" if it was not.
	Fallback string `json:",omitempty"`
}

// QuantizeReport summarises a quantization.
type QuantizeReport struct {
	Tensors                 []TensorQuant
	BytesBefore, BytesAfter int64 // tensor data
	FileBefore, FileAfter   int64
}

// Quantize re-quantizes the model at in (GGUF, or a float32 llama2.c
// checkpoint) and writes out: a GGUF v3 file with the metadata of a GGUF
// input preserved (general.file_type updated) and its alignment kept, or
// with opts.Llama2C a llama2.c int8 checkpoint.
//
// Source tensors of every type DecodeRow knows (F32, F16, BF16 and the
// block types EncodeRow writes) are decoded and converted; a tensor that
// is already of the target type, or of a type tinyprof cannot decode
// (Q6_K, the IQ types, …), is copied byte for byte. A tensor whose rows
// are not whole blocks of opts.Type gets FallbackType instead, and the
// report says so. Quantize fails, writing nothing, when no tensor would
// end up of the type asked for, when a source value is NaN or infinite
// (naming the tensor and the element), or when a converted value
// overflows the target type.
//
// It streams chunks of 64 Ki elements, up to two per worker in flight, so
// memory does not grow with the model (about 2 MiB per worker); the
// llama2.c export also holds one tensor's float32 scales, which export.py
// writes after its int8 values (1/16 of that tensor's int8 bytes at group
// size 64: 8 MiB for a 7B model's embedding). It writes to a temporary file renamed into place on
// success, checks ctx between chunks and calls progress (if non-nil, from
// the calling goroutine) with source bytes done and total.
func Quantize(ctx context.Context, in, out string, opts QuantizeOptions, progress func(done, total int64)) (*QuantizeReport, error) {
	info, err := Analyze(in)
	if err != nil {
		return nil, fmt.Errorf("quantize: %w", err)
	}
	if opts.Keep == nil {
		opts.Keep = DefaultKeep
	}
	if opts.Workers <= 0 {
		opts.Workers = min(runtime.GOMAXPROCS(0), DefaultMaxWorkers)
	}
	plan, err := planQuantize(info, &opts)
	if err != nil {
		return nil, fmt.Errorf("quantize %s: %w", in, err)
	}
	src, err := os.Open(in)
	if err != nil {
		return nil, fmt.Errorf("quantize: %w", err)
	}
	defer src.Close()
	q := &quantizer{ctx: ctx, src: src, plan: plan, progress: progress, workers: opts.Workers}
	for _, p := range plan {
		q.total += p.src.Bytes
	}
	err = atomicfile.Write(out, 0o644, func(w io.Writer) error {
		if opts.Llama2C {
			return q.writeLlama2C(w, info, opts.GroupSize)
		}
		return q.writeGGUF(w, info, src, opts.Type)
	})
	if err != nil {
		return nil, fmt.Errorf("quantize %s: %w", in, err)
	}
	rep := &QuantizeReport{FileBefore: info.FileSize}
	for _, p := range plan {
		rep.Tensors = append(rep.Tensors, p.rep)
		rep.BytesBefore += p.rep.BytesBefore
		rep.BytesAfter += p.rep.BytesAfter
	}
	if st, err := os.Stat(out); err == nil {
		rep.FileAfter = st.Size()
	}
	return rep, nil
}

// planned is one output tensor.
type planned struct {
	src Tensor
	to  Type
	rep TensorQuant

	// Filled while streaming, in chunk order.
	sumErr, sumSq, maxAbs float64
	scales                []byte
}

func planQuantize(info *Info, opts *QuantizeOptions) ([]*planned, error) {
	if opts.Llama2C {
		return planLlama2C(info, opts)
	}
	if !Quantizable(opts.Type) {
		return nil, fmt.Errorf("cannot quantize to %s; choose q8_0, q4_0, q4_1, q5_0, q5_1, q2_k, q4_k, f16, bf16 or f32", opts.Type)
	}
	if g, ok := opts.Type.Groupwise(); ok && opts.GroupSize != 0 && opts.GroupSize != g.Group {
		return nil, fmt.Errorf("group size %d contradicts %s, whose groups are %d; leave GroupSize 0 or ask for the group-wise type of that size", opts.GroupSize, opts.Type, g.Group)
	}
	if opts.GroupSize != 0 && int64(opts.GroupSize) != opts.Type.BlockSize() {
		return nil, fmt.Errorf("group size %d is not allowed for %s: ggml fixes its block at %d elements, so the allowed group sizes are [%d] (or 0); use --llama2c for a chosen group size",
			opts.GroupSize, opts.Type, opts.Type.BlockSize(), opts.Type.BlockSize())
	}
	var plan []*planned
	var candidates, asked int
	var why []string
	suggest := FallbackType(opts.Type, 32, TypeF32) // the first candidate's fallback, once known
	for _, t := range info.Tensors {
		if isRopeTable(t.Name) {
			continue
		}
		if t.Type == TypeI8 && info.GroupSize > 0 {
			return nil, fmt.Errorf("the model is already int8-quantized (llama2.c version 2); quantize from a float32 export")
		}
		p := &planned{src: t, to: t.Type}
		switch {
		case opts.Keep(t.Name, t.Shape):
			p.rep.Kept = "kept in source precision"
		case !Quantizable(t.Type):
			p.rep.Kept = "already " + t.Type.String() + ", which tinyprof cannot decode; copied"
		default:
			candidates++
			p.to = FallbackType(opts.Type, t.Shape[0], t.Type)
			if candidates == 1 && p.to.BlockSize() > 1 {
				suggest = p.to
			}
			switch {
			case p.to == opts.Type:
				asked++
			case len(why) < 3:
				why = append(why, fmt.Sprintf("%s (row of %d)", t.Name, t.Shape[0]))
			}
			if p.to != opts.Type {
				p.rep.Fallback = fmt.Sprintf("row of %d is not whole %s blocks of %d", t.Shape[0], opts.Type, opts.Type.BlockSize())
				if _, ok := opts.Type.Groupwise(); ok {
					p.rep.Fallback = fmt.Sprintf("row of %d is not whole groups of %d", t.Shape[0], opts.Type.BlockSize())
				}
			}
			if p.to == t.Type {
				p.rep.Kept = "already " + t.Type.String() + "; copied"
			}
		}
		plan = append(plan, p)
	}
	switch {
	case candidates == 0:
		return nil, fmt.Errorf("no tensor can be quantized: every tensor is kept in source precision or is of a type tinyprof cannot decode")
	case asked == 0:
		return nil, fmt.Errorf("none of the %d matrices can be stored as %s, whose block is %d elements: %s, … would all fall back to another type; ask for that type instead (e.g. --type %s)",
			candidates, opts.Type, opts.Type.BlockSize(), strings.Join(why, ", "), strings.ToLower(suggest.String()))
	}
	return plan, nil
}

func planLlama2C(info *Info, opts *QuantizeOptions) ([]*planned, error) {
	if opts.Type != 0 && opts.Type != TypeQ8_0 {
		return nil, fmt.Errorf("a llama2.c export is int8 (8 bits) only; %s cannot be written as one: drop --llama2c for a GGUF file, or ask for 8 bits", opts.Type)
	}
	c := Llama2CConfig{Dim: info.Embedding, HiddenDim: info.FeedForward, Layers: info.Layers, Heads: info.Heads,
		KVHeads: info.KVHeads, Vocab: info.Vocab, SeqLen: info.Context, Shared: info.SharedClassifier}
	allowed := Llama2CGroupSizesFor(c)
	if opts.GroupSize == 0 {
		opts.GroupSize = 64
		for opts.GroupSize > 1 && c.Dim%opts.GroupSize != 0 {
			opts.GroupSize /= 2
		}
	}
	if !slices.Contains(allowed, opts.GroupSize) {
		return nil, fmt.Errorf("group size %d is not allowed for a llama2.c int8 export of this model (dim %d); allowed group sizes are %v", opts.GroupSize, c.Dim, allowed)
	}
	var plan []*planned
	for _, w := range llama2cWeights(c, 2) {
		t, ok := info.Tensor(w.name)
		if !ok {
			return nil, fmt.Errorf("the model has no tensor %q, which a llama2.c checkpoint needs; only llama-architecture models convert", w.name)
		}
		if !Quantizable(t.Type) {
			return nil, fmt.Errorf("tensor %q is %s, which tinyprof cannot decode; quantize from a float or F32/F16/BF16/Q8_0/Q4_0/Q4_1/Q5_0/Q5_1/Q2_K/Q4_K model", t.Name, t.Type)
		}
		to := TypeF32
		if w.quant {
			to = TypeI8
		}
		plan = append(plan, &planned{src: t, to: to})
	}
	return plan, nil
}

func (q *quantizer) writeGGUF(w io.Writer, info *Info, src *os.File, to Type) error {
	tensors := make([]GGUFTensor, len(q.plan))
	for i, p := range q.plan {
		tensors[i] = GGUFTensor{Name: p.src.Name, Type: p.to, Shape: p.src.Shape}
	}
	meta, err := outputMeta(info, src, to)
	if err != nil {
		return err
	}
	gw, err := NewGGUFWriter(w, meta, tensors)
	if err != nil {
		return err
	}
	if err := q.run(0, gw.Write); err != nil {
		return err
	}
	return gw.Close()
}

// outputMeta copies a GGUF input's metadata verbatim, replacing the file
// type, or builds llama metadata for a llama2.c input.
func outputMeta(info *Info, src *os.File, to Type) ([]MetaKV, error) {
	ft := MetaKV{Key: "general.file_type", Value: FileType(to)}
	qv := MetaKV{Key: "general.quantization_version", Value: uint32(2)}
	if info.Format != "gguf" {
		return []MetaKV{
			{Key: "general.architecture", Value: "llama"}, ft, qv,
			{Key: "llama.context_length", Value: uint32(info.Context)},
			{Key: "llama.embedding_length", Value: uint32(info.Embedding)},
			{Key: "llama.block_count", Value: uint32(info.Layers)},
			{Key: "llama.feed_forward_length", Value: uint32(info.FeedForward)},
			{Key: "llama.rope.dimension_count", Value: uint32(info.HeadDim)},
			{Key: "llama.attention.head_count", Value: uint32(info.Heads)},
			{Key: "llama.attention.head_count_kv", Value: uint32(info.KVHeads)},
			{Key: "llama.attention.layer_norm_rms_epsilon", Value: float32(1e-5)},
			{Key: "llama.vocab_size", Value: uint32(info.Vocab)},
		}, nil
	}
	st, err := src.Stat()
	if err != nil {
		return nil, err
	}
	g, err := parseGGUF(src, st.Size())
	if err != nil {
		return nil, err
	}
	var meta []MetaKV
	seenQV := false
	for _, kv := range g.kvs {
		switch kv.key {
		case "general.file_type":
			meta = append(meta, ft)
			continue
		case "general.quantization_version":
			seenQV = true
		}
		meta = append(meta, MetaKV{Key: kv.key, Value: rawValue{io.NewSectionReader(src, kv.start, kv.end-kv.start)}})
	}
	if _, ok := g.meta["general.file_type"]; !ok {
		meta = append(meta, ft)
	}
	if !seenQV {
		meta = append(meta, qv)
	}
	// The writer needs the alignment as a value to lay out the data.
	for i, kv := range meta {
		if kv.Key == "general.alignment" {
			meta[i].Value = uint32(g.alignment)
		}
	}
	return meta, nil
}

func (q *quantizer) writeLlama2C(w io.Writer, info *Info, gs int) error {
	c := Llama2CConfig{Dim: info.Embedding, HiddenDim: info.FeedForward, Layers: info.Layers, Heads: info.Heads,
		KVHeads: info.KVHeads, Vocab: info.Vocab, SeqLen: info.Context, Shared: info.SharedClassifier}
	bw := bufio.NewWriterSize(w, 1<<20)
	if _, err := bw.Write(llama2cHeader(c, 2, gs)); err != nil {
		return err
	}
	if err := q.run(gs, bw.Write); err != nil {
		return err
	}
	return bw.Flush()
}

// FileType returns the general.file_type (llama_ftype) of a model whose
// matrices are of type t: 0 F32, 1 F16, 2 Q4_0, 3 Q4_1, 7 Q8_0, 8 Q5_0,
// 9 Q5_1, 10 Q2_K, 15 Q4_K_M, 32 BF16 (llama.cpp include/llama.h), and
// 1024 (guessed) for others.
func FileType(t Type) uint32 {
	switch t {
	case TypeF32:
		return 0
	case TypeF16:
		return 1
	case TypeQ4_0:
		return 2
	case TypeQ4_1:
		return 3
	case TypeQ8_0:
		return 7
	case TypeQ5_0:
		return 8
	case TypeQ5_1:
		return 9
	case TypeQ2_K:
		return 10
	case TypeQ4_K:
		return 15
	case TypeBF16:
		return 32
	}
	return 1024
}
