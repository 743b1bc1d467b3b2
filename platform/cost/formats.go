package cost

import (
	"fmt"
	"strings"

	"github.com/tinyprof/tinyprof/model"
)

// Format is a weight format the cost model prices and the planner can
// choose. The table is data: a format another package learns to write
// joins by adding a row.
type Format struct {
	// Name is the planner's name for it: "f32", "q4_0", "int8-g32".
	Name string `json:"name"`
	// Type is the GGUF tensor type; model.TypeI8 for llama2.c int8 groups.
	Type model.Type `json:"-"`
	// Llama2C marks llama2.c's version 2 export (int8 with a float32 scale
	// per group of GroupSize), which runq.c runs. GroupSize 0 is
	// export.py's choice: 64, halved until it divides dim.
	Llama2C   bool `json:"llama2c,omitempty"`
	GroupSize int  `json:"group_size,omitempty"`
	// Kernel is the measured kernel (kernels.json) whose instruction
	// counts price it.
	Kernel string `json:"kernel"`
	// KernelFactor scales that kernel's per-weight instructions: 1 for a
	// measured kernel; otherwise an estimate that Estimate explains.
	KernelFactor float64 `json:"kernel_factor"`
	Estimate     string  `json:"estimate,omitempty"`
	// Writable reports that model.Quantize can produce it, so that plan
	// --apply can write it.
	Writable bool `json:"writable"`
}

// Measured reports whether the format's kernel was itself measured.
func (f Format) Measured() bool { return f.KernelFactor == 1 && f.Estimate == "" }

// BytesPerWeight is the storage of one weight of a quantized matrix.
func (f Format) BytesPerWeight() float64 {
	if f.Llama2C {
		g := f.GroupSize
		if g == 0 {
			g = 64
		}
		return 1 + 4/float64(g)
	}
	return float64(f.Type.BlockBytes()) / float64(f.Type.BlockSize())
}

// formats is the table. The estimates derive the unmeasured kernels from
// the nearest measured one by what their inner loop adds: an offset per
// block (Q4_1, Q5_1), a fifth bit to gather (Q5_0), 256-weight
// super-blocks with 6-bit sub-block scales to unpack (the K-quants), or a
// half-precision conversion per weight (F16). The int8 kernel was measured
// at group 32 (Tiny) and group 64 (Stories260K); its per-weight cost is
// their fit, used for every group size.
var formats = []Format{
	{Name: "f32", Type: model.TypeF32, Kernel: "f32", KernelFactor: 1, Writable: true},
	{Name: "f16", Type: model.TypeF16, Kernel: "f32", KernelFactor: 1.4, Estimate: "f32 plus a half-to-single conversion per weight", Writable: true},
	{Name: "q8_0", Type: model.TypeQ8_0, Kernel: "q8_0", KernelFactor: 1, Writable: true},
	{Name: "q4_0", Type: model.TypeQ4_0, Kernel: "q4_0", KernelFactor: 1, Writable: true},
	{Name: "q4_1", Type: model.TypeQ4_1, Kernel: "q4_0", KernelFactor: 1.05, Estimate: "q4_0 plus a per-block offset", Writable: true},
	{Name: "q5_0", Type: model.TypeQ5_0, Kernel: "q4_0", KernelFactor: 1.25, Estimate: "q4_0 plus gathering the fifth bit of each weight", Writable: true},
	{Name: "q5_1", Type: model.TypeQ5_1, Kernel: "q4_0", KernelFactor: 1.3, Estimate: "q5_0 plus a per-block offset", Writable: true},
	{Name: "q2_k", Type: model.TypeQ2_K, Kernel: "q4_0", KernelFactor: 1.3, Estimate: "q4_0 plus unpacking 4-bit sub-block scales and mins of 256-weight super-blocks", Writable: true},
	{Name: "q3_k", Type: model.TypeQ3_K, Kernel: "q4_0", KernelFactor: 1.45, Estimate: "q2_k plus a high-bit mask per weight"},
	{Name: "q4_k", Type: model.TypeQ4_K, Kernel: "q4_0", KernelFactor: 1.2, Estimate: "q4_0 plus unpacking 6-bit sub-block scales and mins", Writable: true},
	{Name: "q5_k", Type: model.TypeQ5_K, Kernel: "q4_0", KernelFactor: 1.4, Estimate: "q4_k plus gathering the fifth bit"},
	{Name: "q6_k", Type: model.TypeQ6_K, Kernel: "q4_0", KernelFactor: 1.4, Estimate: "q4_0 plus combining low and high bits and 8-bit sub-block scales"},
	{Name: "int8", Type: model.TypeI8, Llama2C: true, Kernel: "int8", KernelFactor: 1, Writable: true},
	{Name: "int8-g32", Type: model.TypeI8, Llama2C: true, GroupSize: 32, Kernel: "int8", KernelFactor: 1, Writable: true},
	{Name: "int8-g64", Type: model.TypeI8, Llama2C: true, GroupSize: 64, Kernel: "int8", KernelFactor: 1, Writable: true},
}

// The group-wise formats (model/GROUPWISE.md): 8, 4 and 2 bits in groups
// of 32 to 256, symmetric or with a minimum. One kernel per width was
// measured, symmetric at group 32 (tiny-g8s32.gguf and its Stories260K
// twin); the runtime decodes both kinds with one formula, so the other
// group sizes and the asymmetric kind are priced with it, marked as
// estimates: they differ only in the work per group.
func init() {
	for _, bits := range []int{8, 4, 2} {
		for _, group := range []int{32, 64, 128, 256} {
			for _, asym := range []bool{false, true} {
				t, err := model.GroupwiseType(model.Groupwise{Bits: bits, Group: group, Asym: asym})
				if err != nil {
					panic(err) // every combination above is a valid type
				}
				f := Format{Name: strings.ToLower(t.String()), Type: t, Kernel: fmt.Sprintf("g%d", bits), KernelFactor: 1, Writable: true}
				if group != 32 || asym {
					f.Estimate = fmt.Sprintf("the g%d kernel measured at group 32, symmetric; groups of %d%s change only the per-group work", bits, group, map[bool]string{true: " with a minimum", false: ""}[asym])
				}
				formats = append(formats, f)
			}
		}
	}
}

// Formats returns the formats table. The caller owns the slice.
func Formats() []Format { return append([]Format(nil), formats...) }

// LookupFormat returns the format called name (case-insensitive).
func LookupFormat(name string) (Format, error) {
	for _, f := range formats {
		if strings.EqualFold(f.Name, name) {
			return f, nil
		}
	}
	names := make([]string, len(formats))
	for i, f := range formats {
		names[i] = f.Name
	}
	return Format{}, fmt.Errorf("unknown format %q: known formats are %s", name, strings.Join(names, ", "))
}

// FormatOf returns the format of a model file: its llama2.c export, or
// its dominant GGUF tensor type by bytes.
func FormatOf(info *model.Info) (Format, error) {
	if info.Format == "llama2c" {
		if info.Version == 2 {
			for _, f := range formats {
				if f.Llama2C && f.GroupSize == info.GroupSize {
					return f, nil
				}
			}
			f := formats[len(formats)-1]
			f.Name, f.GroupSize = fmt.Sprintf("int8-g%d", info.GroupSize), info.GroupSize
			f.Estimate = "the measured int8 kernel at another group size"
			return f, nil
		}
		return formats[0], nil
	}
	best := info.DominantType()
	for _, f := range formats {
		if !f.Llama2C && f.Type == best {
			return f, nil
		}
	}
	return Format{}, fmt.Errorf("no cost model for tensors of type %s", best)
}
