package model

import (
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"math/bits"
)

// ValueType is a GGUF metadata value type (gguf_type in ggml's gguf.h).
type ValueType uint32

// The GGUF metadata value types, as in ggml/include/gguf.h and docs/gguf.md.
const (
	ValueUint8   ValueType = 0
	ValueInt8    ValueType = 1
	ValueUint16  ValueType = 2
	ValueInt16   ValueType = 3
	ValueUint32  ValueType = 4
	ValueInt32   ValueType = 5
	ValueFloat32 ValueType = 6
	ValueBool    ValueType = 7
	ValueString  ValueType = 8
	ValueArray   ValueType = 9
	ValueUint64  ValueType = 10
	ValueInt64   ValueType = 11
	ValueFloat64 ValueType = 12
)

// valueSizes gives the encoded size of the fixed-size value types; 0 for
// string and array.
var valueSizes = [...]uint64{1, 1, 2, 2, 4, 4, 4, 1, 0, 0, 8, 8, 8}

// Array summarises a GGUF array value in Info.Metadata without holding
// its elements.
type Array struct {
	ElemType ValueType
	Len      uint64
}

// GGUF format constants (ggml/include/gguf.h, ggml/src/gguf.cpp).
const (
	ggufDefaultAlignment = 32
	ggmlMaxDims          = 4
	ggmlMaxName          = 64 // GGML_MAX_NAME: names must be shorter
	keepString           = 64 << 10
)

// kvEntry is one metadata pair with the byte range of its encoded type and
// value, so Quantize can copy it verbatim.
type kvEntry struct {
	key        string
	typ        ValueType
	start, end int64 // of the value type field and value
}

// ggufFile is a parsed GGUF header.
type ggufFile struct {
	version   uint32
	kvs       []kvEntry
	meta      map[string]any
	tensors   []Tensor // Offset absolute
	alignment int64
	dataOff   int64
	tokBytes  int64
}

func analyzeGGUF(r io.ReaderAt, size int64) (*Info, error) {
	g, err := parseGGUF(r, size)
	if err != nil {
		return nil, err
	}
	return g.info(), nil
}

// parseGGUF reads and validates a GGUF header with the checks of
// gguf_init_from_file_impl in ggml-org/llama.cpp ggml/src/gguf.cpp.
func parseGGUF(r io.ReaderAt, size int64) (*ggufFile, error) {
	b := newByteReader(r, size)
	if _, err := b.read(4, "magic"); err != nil {
		return nil, err
	}
	version, err := b.u32("version")
	if err != nil {
		return nil, err
	}
	switch {
	case version&0xFFFF == 0:
		return nil, fmt.Errorf("%w: GGUF version %#x looks byte-swapped; big-endian GGUF files are not supported", ErrFormat, version)
	case version == 1:
		return nil, fmt.Errorf("%w: GGUF v1 is no longer supported by ggml; re-convert the model with a current llama.cpp", ErrFormat)
	case version != 2 && version != 3:
		return nil, fmt.Errorf("%w: GGUF version %d, this reader supports versions 2 and 3", ErrFormat, version)
	}
	nTensors, err := b.u64("tensor count")
	if err != nil {
		return nil, err
	}
	nKV, err := b.u64("metadata count")
	if err != nil {
		return nil, err
	}
	// A KV pair is at least 8 (key length) + 1 (key) + 4 (type) + 1 bytes;
	// a tensor info at least 8 + 1 + 4 + 4 + 8.
	if err := b.checkCount(nKV, 14, "metadata count"); err != nil {
		return nil, err
	}
	if err := b.checkCount(nTensors, 25, "tensor count"); err != nil {
		return nil, err
	}
	// Counts are claims until the entries are read: size the tables for at
	// most a few thousand and let them grow with what is really there, so a
	// small sparse file claiming millions of entries costs nothing.
	g := &ggufFile{version: version, meta: make(map[string]any, min(nKV, initialEntries)), alignment: ggufDefaultAlignment}
	g.kvs = make([]kvEntry, 0, min(nKV, initialEntries))
	for i := range nKV {
		if err := g.readKV(b, i); err != nil {
			return nil, err
		}
	}
	if v, ok := g.meta["general.alignment"]; ok {
		a, isU32 := v.(uint32)
		if !isU32 {
			return nil, fmt.Errorf("%w: general.alignment must be a uint32, not %T", ErrFormat, v)
		}
		if a == 0 || a&(a-1) != 0 {
			return nil, fmt.Errorf("%w: general.alignment %d is not a power of 2", ErrFormat, a)
		}
		g.alignment = int64(a)
	}
	g.tensors = make([]Tensor, 0, min(nTensors, initialEntries))
	names := make(map[string]struct{}, min(nTensors, initialEntries))
	for i := range nTensors {
		t, err := readTensorInfo(b, i)
		if err != nil {
			return nil, err
		}
		if _, dup := names[t.Name]; dup {
			return nil, fmt.Errorf("%w: duplicate tensor name %q (tensor %d)", ErrFormat, t.Name, i)
		}
		names[t.Name] = struct{}{}
		g.tensors = append(g.tensors, t)
	}
	g.dataOff = alignUp(b.pos, g.alignment)
	if nTensors > 0 && g.dataOff > size {
		return nil, fmt.Errorf("%w: tensor data would start at byte %d, past the end of the %d-byte file; the file is truncated", ErrFormat, g.dataOff, size)
	}
	// Tensors must be packed in order, each padded to the alignment, as
	// ggml's reader requires ("tensor '%s' has offset %d, expected %d").
	var expect int64
	for i := range g.tensors {
		t := &g.tensors[i]
		if t.Offset != expect {
			return nil, fmt.Errorf("%w: tensor %q has data offset %d, expected %d (tensors must be contiguous and %d-byte aligned)", ErrFormat, t.Name, t.Offset, expect, g.alignment)
		}
		padded := alignUp(t.Bytes, g.alignment)
		if padded < 0 || expect > math.MaxInt64-padded || g.dataOff > math.MaxInt64-expect-padded {
			return nil, fmt.Errorf("%w: tensor %q: data size overflows", ErrFormat, t.Name)
		}
		expect += padded
		t.Offset += g.dataOff
		if t.Offset+t.Bytes > size {
			return nil, fmt.Errorf("%w: tensor %q ends at byte %d, past the end of the %d-byte file; the file is truncated", ErrFormat, t.Name, t.Offset+t.Bytes, size)
		}
	}
	return g, nil
}

// initialEntries bounds the table sizes taken from a header's counts.
const initialEntries = 4096

func alignUp(x, a int64) int64 { return x + (a-x%a)%a }

func (g *ggufFile) readKV(b *byteReader, i uint64) error {
	key, _, skipped, err := b.str(fmt.Sprintf("metadata key %d", i), 1<<16)
	if err != nil {
		return err
	}
	if skipped {
		return fmt.Errorf("%w: metadata key %d is longer than 65535 bytes", ErrFormat, i)
	}
	if key == "" {
		return fmt.Errorf("%w: metadata key %d is empty", ErrFormat, i)
	}
	if _, dup := g.meta[key]; dup {
		return fmt.Errorf("%w: duplicate metadata key %q", ErrFormat, key)
	}
	start := b.pos
	t, err := b.u32("type of " + key)
	if err != nil {
		return err
	}
	var v any
	if ValueType(t) == ValueArray {
		v, err = g.readArray(b, key)
	} else {
		v, err = readValue(b, ValueType(t), key)
	}
	if err != nil {
		return err
	}
	g.meta[key] = v
	g.kvs = append(g.kvs, kvEntry{key: key, typ: ValueType(t), start: start, end: b.pos})
	return nil
}

func readValue(b *byteReader, t ValueType, key string) (any, error) {
	if t == ValueString {
		s, n, skipped, err := b.str("value of "+key, keepString)
		if skipped {
			return Array{ElemType: ValueString, Len: n}, err
		}
		return s, err
	}
	if int(t) >= len(valueSizes) || valueSizes[t] == 0 {
		return nil, fmt.Errorf("%w: metadata key %q has invalid value type %d", ErrFormat, key, t)
	}
	p, err := b.read(int(valueSizes[t]), "value of "+key)
	if err != nil {
		return nil, err
	}
	le := binary.LittleEndian
	switch t {
	case ValueUint8:
		return p[0], nil
	case ValueInt8:
		return int8(p[0]), nil
	case ValueUint16:
		return le.Uint16(p), nil
	case ValueInt16:
		return int16(le.Uint16(p)), nil
	case ValueUint32:
		return le.Uint32(p), nil
	case ValueInt32:
		return int32(le.Uint32(p)), nil
	case ValueFloat32:
		return math.Float32frombits(le.Uint32(p)), nil
	case ValueBool:
		return p[0] != 0, nil
	case ValueUint64:
		return le.Uint64(p), nil
	case ValueInt64:
		return int64(le.Uint64(p)), nil
	default: // ValueFloat64
		return math.Float64frombits(le.Uint64(p)), nil
	}
}

func (g *ggufFile) readArray(b *byteReader, key string) (any, error) {
	et, err := b.u32("array type of " + key)
	if err != nil {
		return nil, err
	}
	n, err := b.u64("array length of " + key)
	if err != nil {
		return nil, err
	}
	t := ValueType(et)
	switch {
	case t == ValueString:
		if err := b.checkCount(n, 8, "length of array "+key); err != nil {
			return nil, err
		}
		// A vocabulary holds up to a few hundred thousand strings: name
		// the string only when something is wrong, as formatting the name
		// of every one was two thirds of the time of analysing such a file.
		var total int64
		for j := range n {
			l, err := b.u64("string length")
			if err != nil {
				return nil, fmt.Errorf("string %d of %s: %w", j, key, err)
			}
			if l > uint64(b.remaining()) {
				return nil, b.errTruncated(fmt.Sprintf("string %d of %s", j, key), int64(min(l, math.MaxInt64)))
			}
			b.pos += int64(l)
			total += int64(l)
		}
		if key == "tokenizer.ggml.tokens" {
			g.tokBytes = total
		}
	case int(t) < len(valueSizes) && valueSizes[t] > 0:
		hi, lo := bits.Mul64(n, valueSizes[t])
		if hi != 0 || lo > uint64(b.remaining()) {
			return nil, fmt.Errorf("%w: array %q claims %d elements of %d bytes but only %d bytes are left in the file",
				ErrFormat, key, n, valueSizes[t], b.remaining())
		}
		if err := b.skip(lo, "array "+key); err != nil {
			return nil, err
		}
	default:
		return nil, fmt.Errorf("%w: array %q has invalid element type %d (nested arrays are not allowed)", ErrFormat, key, et)
	}
	return Array{ElemType: t, Len: n}, nil
}

func readTensorInfo(b *byteReader, i uint64) (Tensor, error) {
	name, n, skipped, err := b.str(fmt.Sprintf("name of tensor %d", i), ggmlMaxName)
	if err != nil {
		return Tensor{}, err
	}
	if skipped || n >= ggmlMaxName {
		return Tensor{}, fmt.Errorf("%w: name of tensor %d is %d bytes, ggml allows at most %d", ErrFormat, i, n, ggmlMaxName-1)
	}
	nd, err := b.u32("dimension count of " + name)
	if err != nil {
		return Tensor{}, err
	}
	if nd > ggmlMaxDims {
		return Tensor{}, fmt.Errorf("%w: tensor %q has %d dimensions, ggml allows at most %d", ErrFormat, name, nd, ggmlMaxDims)
	}
	shape := make([]int64, nd)
	elems := uint64(1)
	overflow, zero := false, false
	for j := range shape {
		d, err := b.u64("dimension of " + name)
		if err != nil {
			return Tensor{}, err
		}
		if d > math.MaxInt64 {
			return Tensor{}, fmt.Errorf("%w: tensor %q dimension %d is %d, negative as int64", ErrFormat, name, j, int64(d))
		}
		shape[j] = int64(d)
		zero = zero || d == 0
		hi, lo := bits.Mul64(elems, d)
		overflow = overflow || hi != 0 || lo >= math.MaxInt64
		elems = lo
	}
	if overflow && !zero {
		return Tensor{}, fmt.Errorf("%w: tensor %q with shape %v has more than 2^63 elements", ErrFormat, name, shape)
	}
	tt, err := b.u32("type of " + name)
	if err != nil {
		return Tensor{}, err
	}
	typ := Type(tt)
	if err := typ.check(); err != nil {
		return Tensor{}, fmt.Errorf("tensor %q: %w", name, err)
	}
	row := int64(1)
	if nd > 0 {
		row = shape[0]
	}
	if row%typ.BlockSize() != 0 {
		return Tensor{}, fmt.Errorf("%w: tensor %q of type %s has %d elements per row, not a multiple of its block size %d", ErrFormat, name, typ, row, typ.BlockSize())
	}
	nbytes, err := typ.RowBytes(int64(elems))
	if err != nil {
		return Tensor{}, fmt.Errorf("%w: tensor %q: %v", ErrFormat, name, err)
	}
	off, err := b.u64("data offset of " + name)
	if err != nil {
		return Tensor{}, err
	}
	if off > math.MaxInt64/2 {
		return Tensor{}, fmt.Errorf("%w: tensor %q has data offset %d, beyond any file", ErrFormat, name, off)
	}
	return Tensor{Name: name, Type: typ, Shape: shape, Offset: int64(off), Bytes: nbytes}, nil
}

// metaInt returns an integer metadata value of any integer type.
func (g *ggufFile) metaInt(key string) (int64, bool) {
	switch v := g.meta[key].(type) {
	case uint8:
		return int64(v), true
	case int8:
		return int64(v), true
	case uint16:
		return int64(v), true
	case int16:
		return int64(v), true
	case uint32:
		return int64(v), true
	case int32:
		return int64(v), true
	case uint64:
		if v > math.MaxInt64 {
			return 0, false
		}
		return int64(v), true
	case int64:
		return v, true
	}
	return 0, false
}

// clampInt converts a metadata count to int, mapping absurd values to 0.
func clampInt(v int64) int {
	if v < 0 || v > math.MaxInt32 {
		return 0
	}
	return int(v)
}

func (g *ggufFile) info() *Info {
	info := &Info{
		Format:         "gguf",
		Version:        int(g.version),
		Tensors:        g.tensors,
		DataOffset:     g.dataOff,
		Alignment:      int(g.alignment),
		Metadata:       g.meta,
		TokenizerBytes: g.tokBytes,
	}
	info.Architecture, _ = g.meta["general.architecture"].(string)
	info.Name, _ = g.meta["general.name"].(string)
	arch := info.Architecture
	get := func(k string) int {
		v, _ := g.metaInt(arch + "." + k)
		return clampInt(v)
	}
	info.Layers = get("block_count")
	info.Embedding = get("embedding_length")
	info.FeedForward = get("feed_forward_length")
	info.Heads = get("attention.head_count")
	info.KVHeads = get("attention.head_count_kv")
	info.Context = get("context_length")
	if info.KVHeads == 0 {
		info.KVHeads = info.Heads
	}
	info.HeadDim = get("attention.key_length")
	if info.HeadDim == 0 && info.Heads > 0 {
		info.HeadDim = info.Embedding / info.Heads
	}
	if a, ok := g.meta["tokenizer.ggml.tokens"].(Array); ok {
		info.Vocab = clampInt(int64(min(a.Len, math.MaxInt32)))
	}
	if info.Vocab == 0 {
		info.Vocab = get("vocab_size")
	}
	hasOutput := false
	for _, t := range g.tensors {
		info.Parameters += t.Elements()
		info.WeightBytes += t.Bytes
		switch t.Name {
		case "token_embd.weight":
			if info.Vocab == 0 && len(t.Shape) == 2 {
				info.Vocab = clampInt(t.Shape[1])
			}
		case "output.weight":
			hasOutput = true
		}
	}
	info.SharedClassifier = !hasOutput
	return info
}
