package plan

import (
	"fmt"

	"github.com/tinyprof/tinyprof/model"
	"github.com/tinyprof/tinyprof/platform/cost"
)

// asFormat returns info as it would be after quantizing to f: every
// matrix (two or more dimensions) in f's type, with model.FallbackType
// where a row is not whole blocks, 1-D tensors kept, as model.Quantize
// does. It describes the file; it reads no weights.
func asFormat(info *model.Info, f cost.Format) (*model.Info, error) {
	out := *info
	out.Tensors = make([]model.Tensor, 0, len(info.Tensors))
	out.WeightBytes = 0
	if f.Llama2C {
		g, err := groupFor(info, f.GroupSize)
		if err != nil {
			return nil, err
		}
		f.GroupSize = g
		out.Format, out.Version, out.GroupSize = "llama2c", 2, g
	} else {
		out.Format, out.Version, out.GroupSize = "gguf", 3, 0
	}
	converted := 0
	out.Tensors = out.Tensors[:0]
	for _, t := range info.Tensors {
		if t.Name == "rope_freqs.cos" || t.Name == "rope_freqs.sin" {
			continue // a legacy llama2.c file's RoPE tables: model.Quantize drops them
		}
		nt := t
		n := int64(1)
		for _, d := range t.Shape {
			n *= d
		}
		switch {
		case len(t.Shape) < 2:
			nt.Type, nt.Bytes = model.TypeF32, 4*n
		case f.Llama2C:
			nt.Type, nt.Bytes = model.TypeI8, n+4*n/int64(f.GroupSize)
		default:
			nt.Type = model.FallbackType(f.Type, t.Shape[0], model.TypeF32)
			row, err := nt.Type.RowBytes(t.Shape[0])
			if err != nil {
				return nil, fmt.Errorf("tensor %s: %w", t.Name, err)
			}
			nt.Bytes = row * (n / t.Shape[0])
			if nt.Type == f.Type {
				converted++
			}
		}
		out.Tensors = append(out.Tensors, nt)
		out.WeightBytes += nt.Bytes
	}
	if !f.Llama2C && f.Type != model.TypeF32 && converted == 0 {
		return nil, fmt.Errorf("%s's %d-weight blocks divide no matrix row (dim %d): every matrix would fall back to another type", f.Name, f.Type.BlockSize(), info.Embedding)
	}
	out.FileSize = out.WeightBytes + headerBound(info, &out, f)
	if out.Parameters > 0 {
		out.BitsPerWeight = float64(out.WeightBytes) * 8 / float64(out.Parameters)
	}
	return &out, nil
}

// groupFor returns the int8 group of a llama2.c export: want, which must
// divide dim and every matrix; or for want 0 export.py's choice, 64 halved
// until it divides dim (and, as model.Quantize also requires, every matrix).
func groupFor(info *model.Info, want int) (int, error) {
	divides := func(g int) bool {
		if g <= 0 || info.Embedding%g != 0 {
			return false
		}
		for _, t := range info.Tensors {
			if len(t.Shape) >= 2 && t.Elements()%int64(g) != 0 {
				return false
			}
		}
		return true
	}
	if want > 0 {
		if !divides(want) {
			return 0, fmt.Errorf("group %d does not divide dim %d and every matrix", want, info.Embedding)
		}
		return want, nil
	}
	for g := 64; g >= 1; g /= 2 {
		if divides(g) {
			return g, nil
		}
	}
	return 0, fmt.Errorf("no int8 group divides dim %d", info.Embedding)
}

// headerBound bounds from above the bytes of the file model.Quantize
// writes for out beyond its tensor data, so that model.Fit, which stores
// the file whole, is never told a file smaller than the one written: a
// llama2.c v2 export has a 256-byte header; a GGUF file has the metadata
// (the source's own when it is GGUF, else what Quantize writes for a
// llama2.c source, under 1 KiB on the fixtures), one tensor record per
// tensor, and up to 31 bytes of padding before each tensor's data.
func headerBound(src, out *model.Info, f cost.Format) int64 {
	if f.Llama2C {
		return 256
	}
	var records int64
	for _, t := range out.Tensors {
		records += 8 + int64(len(t.Name)) + 4 + 8*int64(len(t.Shape)) + 4 + 8
	}
	pad := 32 * int64(len(out.Tensors))
	if src.Format == "gguf" {
		var data int64
		for _, t := range src.Tensors {
			data += t.Bytes
		}
		// The source's header, records and padding: the records are the
		// same names and shapes, the padding at most pad either way.
		return max(0, src.FileSize-data) + pad
	}
	return 24 + 1024 + records + pad
}
