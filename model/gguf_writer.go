package model

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
)

// MetaKV is one GGUF metadata pair for NewGGUFWriter.
type MetaKV struct {
	Key string
	// Value is one of uint8, int8, uint16, int16, uint32, int32, float32,
	// bool, string, uint64, int64, float64, or a slice of one of them (a
	// GGUF array).
	Value any
}

// rawValue is an encoded value type and value copied from another GGUF file.
type rawValue struct{ r *io.SectionReader }

// GGUFTensor declares one tensor for NewGGUFWriter.
type GGUFTensor struct {
	Name  string
	Type  Type
	Shape []int64 // ggml order, row length first
}

// GGUFWriter writes a GGUF version 3 file: NewGGUFWriter writes the header,
// metadata and tensor infos; Write then takes the tensors' data in
// declaration order, any number of bytes at a time, and inserts the
// alignment padding between tensors; Close checks that every byte was
// given and pads the end. A GGUFWriter is not safe for concurrent use.
//
// The layout follows ggml's gguf_write_to_buf (ggml-org/llama.cpp
// ggml/src/gguf.cpp): tensor data offsets are relative to the aligned start
// of the data section and each tensor is padded with zeros to the alignment.
type GGUFWriter struct {
	w       *bufio.Writer
	tensors []GGUFTensor
	sizes   []int64
	align   int64
	cur     int   // tensor being written
	done    int64 // bytes of tensor cur written
	pos     int64 // bytes written in all
	err     error
}

// NewGGUFWriter writes the header of a GGUF v3 file to w. The alignment is
// meta's general.alignment (a uint32 power of two) or the default 32.
func NewGGUFWriter(w io.Writer, meta []MetaKV, tensors []GGUFTensor) (*GGUFWriter, error) {
	g := &GGUFWriter{w: bufio.NewWriterSize(w, 1<<20), tensors: tensors, align: ggufDefaultAlignment}
	for _, kv := range meta {
		if kv.Key != "general.alignment" {
			continue
		}
		a, ok := kv.Value.(uint32)
		if !ok || a == 0 || a&(a-1) != 0 {
			return nil, fmt.Errorf("gguf writer: general.alignment must be a uint32 power of two, got %v (%T)", kv.Value, kv.Value)
		}
		g.align = int64(a)
	}
	g.sizes = make([]int64, len(tensors))
	for i, t := range tensors {
		if len(t.Name) >= ggmlMaxName {
			return nil, fmt.Errorf("gguf writer: tensor name %q is longer than %d bytes", t.Name, ggmlMaxName-1)
		}
		if len(t.Shape) == 0 || len(t.Shape) > ggmlMaxDims {
			return nil, fmt.Errorf("gguf writer: tensor %q has %d dimensions, want 1..%d", t.Name, len(t.Shape), ggmlMaxDims)
		}
		n := int64(1)
		for _, d := range t.Shape {
			n *= d
		}
		if t.Shape[0]%max(t.Type.BlockSize(), 1) != 0 {
			return nil, fmt.Errorf("gguf writer: tensor %q row of %d elements is not a multiple of the %s block size %d", t.Name, t.Shape[0], t.Type, t.Type.BlockSize())
		}
		sz, err := t.Type.RowBytes(n)
		if err != nil {
			return nil, fmt.Errorf("gguf writer: tensor %q: %w", t.Name, err)
		}
		g.sizes[i] = sz
	}
	g.u32(0x46554747) // "GGUF"
	g.u32(3)
	g.u64(uint64(len(tensors)))
	g.u64(uint64(len(meta)))
	for _, kv := range meta {
		g.str(kv.Key)
		if err := g.value(kv.Value); err != nil {
			return nil, fmt.Errorf("gguf writer: key %q: %w", kv.Key, err)
		}
	}
	var off int64
	for i, t := range tensors {
		g.str(t.Name)
		g.u32(uint32(len(t.Shape)))
		for _, d := range t.Shape {
			g.u64(uint64(d))
		}
		g.u32(uint32(t.Type))
		g.u64(uint64(off))
		off += alignUp(g.sizes[i], g.align)
	}
	g.pad(g.headerLen())
	g.skipEmpty()
	return g, g.err
}

// headerLen is the number of header bytes written so far; bufio tracks
// only buffered bytes, so NewGGUFWriter counts them itself.
func (g *GGUFWriter) headerLen() int64 { return g.pos }

// Offsets returns the data-section-relative offset of each tensor.
func (g *GGUFWriter) Offsets() []int64 {
	out := make([]int64, len(g.sizes))
	var off int64
	for i, s := range g.sizes {
		out[i] = off
		off += alignUp(s, g.align)
	}
	return out
}

// Write appends tensor data; see GGUFWriter.
func (g *GGUFWriter) Write(p []byte) (int, error) {
	n := 0
	for len(p) > 0 && g.err == nil {
		if g.cur >= len(g.tensors) {
			g.err = errors.New("gguf writer: more tensor data than the declared tensors hold")
			break
		}
		k := int(min(int64(len(p)), g.sizes[g.cur]-g.done))
		g.write(p[:k])
		n += k
		p = p[k:]
		g.done += int64(k)
		g.skipEmpty()
	}
	return n, g.err
}

// skipEmpty pads and advances past every completed tensor.
func (g *GGUFWriter) skipEmpty() {
	for g.cur < len(g.tensors) && g.done == g.sizes[g.cur] {
		g.pad(g.sizes[g.cur])
		g.cur++
		g.done = 0
	}
}

// Flush writes buffered bytes to the underlying writer. After NewGGUFWriter
// it lets a caller write just the header, e.g. to make a sparse file.
func (g *GGUFWriter) Flush() error {
	if g.err != nil {
		return g.err
	}
	return g.w.Flush()
}

// Close flushes the file. It fails if some tensor data is missing; it does
// not close the underlying writer.
func (g *GGUFWriter) Close() error {
	if g.err == nil && g.cur < len(g.tensors) {
		g.err = fmt.Errorf("gguf writer: closed after %d of %d tensors (tensor %q has %d of %d bytes)", g.cur, len(g.tensors), g.tensors[g.cur].Name, g.done, g.sizes[g.cur])
	}
	if g.err != nil {
		return g.err
	}
	return g.w.Flush()
}

func (g *GGUFWriter) write(p []byte) {
	if g.err != nil {
		return
	}
	_, g.err = g.w.Write(p)
	g.pos += int64(len(p))
}

var zeros [4096]byte

func (g *GGUFWriter) pad(n int64) {
	for k := (g.align - n%g.align) % g.align; k > 0; {
		m := min(k, int64(len(zeros)))
		g.write(zeros[:m])
		k -= m
	}
}

func (g *GGUFWriter) u32(v uint32) { g.write(binary.LittleEndian.AppendUint32(nil, v)) }
func (g *GGUFWriter) u64(v uint64) { g.write(binary.LittleEndian.AppendUint64(nil, v)) }
func (g *GGUFWriter) str(s string) { g.u64(uint64(len(s))); g.write([]byte(s)) }

func (g *GGUFWriter) value(v any) error {
	if raw, ok := v.(rawValue); ok {
		if g.err != nil {
			return g.err
		}
		n, err := io.Copy(g.w, io.NewSectionReader(raw.r, 0, raw.r.Size()))
		g.pos += n
		if err != nil {
			g.err = err
		}
		return err
	}
	t, ok := scalarType(v)
	if ok {
		g.u32(uint32(t))
		g.scalar(v)
		return g.err
	}
	switch a := v.(type) {
	case []string:
		g.u32(uint32(ValueArray))
		g.u32(uint32(ValueString))
		g.u64(uint64(len(a)))
		for _, s := range a {
			g.str(s)
		}
	case []float32:
		writeArray(g, ValueFloat32, a)
	case []int32:
		writeArray(g, ValueInt32, a)
	case []uint32:
		writeArray(g, ValueUint32, a)
	case []int64:
		writeArray(g, ValueInt64, a)
	case []uint8:
		writeArray(g, ValueUint8, a)
	case []bool:
		writeArray(g, ValueBool, a)
	default:
		return fmt.Errorf("unsupported metadata value type %T", v)
	}
	return g.err
}

func writeArray[T any](g *GGUFWriter, t ValueType, a []T) {
	g.u32(uint32(ValueArray))
	g.u32(uint32(t))
	g.u64(uint64(len(a)))
	for _, x := range a {
		g.scalar(x)
	}
}

func scalarType(v any) (ValueType, bool) {
	switch v.(type) {
	case uint8:
		return ValueUint8, true
	case int8:
		return ValueInt8, true
	case uint16:
		return ValueUint16, true
	case int16:
		return ValueInt16, true
	case uint32:
		return ValueUint32, true
	case int32:
		return ValueInt32, true
	case float32:
		return ValueFloat32, true
	case bool:
		return ValueBool, true
	case string:
		return ValueString, true
	case uint64:
		return ValueUint64, true
	case int64:
		return ValueInt64, true
	case float64:
		return ValueFloat64, true
	}
	return 0, false
}

func (g *GGUFWriter) scalar(v any) {
	le := binary.LittleEndian
	switch x := v.(type) {
	case uint8:
		g.write([]byte{x})
	case int8:
		g.write([]byte{byte(x)})
	case uint16:
		g.write(le.AppendUint16(nil, x))
	case int16:
		g.write(le.AppendUint16(nil, uint16(x)))
	case uint32:
		g.u32(x)
	case int32:
		g.u32(uint32(x))
	case float32:
		g.u32(math.Float32bits(x))
	case bool:
		b := byte(0)
		if x {
			b = 1
		}
		g.write([]byte{b})
	case string:
		g.str(x)
	case uint64:
		g.u64(x)
	case int64:
		g.u64(uint64(x))
	case float64:
		g.u64(math.Float64bits(x))
	}
}
