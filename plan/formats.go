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
