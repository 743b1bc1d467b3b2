package cost

import (
	_ "embed"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strings"
	"sync"
)

// kernelsJSON holds the emulated boards' instruction counts the kernel
// costs are derived from. It is written by
//
//	go test ./platform/cost -run TestDeriveKernels -cost.derive
//
// which runs the Tiny and Stories260K fixtures in every measured format on
// the emulated Cortex-M4F (device/emu, QEMU -icount shift=0: one
// instruction per nanosecond, exact and repeatable).
//
//go:embed kernels.json
var kernelsJSON []byte

// Run is one emulated measurement: instructions per decoded token of one
// kernel on one shape.
type Run struct {
	Machine string `json:"machine"`
	Kernel  string `json:"kernel"`
	File    string `json:"file"`
	Shape   Shape  `json:"shape"`
	// MeanPos is the mean position of the decoded tokens (prompt tokens
	// plus half the generated ones).
	MeanPos       float64 `json:"mean_pos"`
	InstrPerToken float64 `json:"instr_per_token"`
	// F32Weights is how many of the multiplied weights the file keeps in
	// float32 (see F32Weights): those run the f32 kernel, whose cost
	// DeriveKernels takes off before it solves for this kernel's.
	F32Weights int64 `json:"f32_weights,omitempty"`
}

// Runs is the content of kernels.json.
type Runs struct {
	Command string `json:"command"`
	Runs    []Run  `json:"runs"`
}

// Kernel is the derived cost of one matrix-vector kernel in emulated
// Cortex-M4F instructions.
type Kernel struct {
	Name string `json:"name"`
	// InstrPerWeight is the instructions per weight of the matrix-vector
	// products.
	InstrPerWeight float64 `json:"instr_per_weight"`
	// InstrPerUnit is the instructions per activation unit (see
	// Shape.ActivationUnits): norms, RoPE, attention, softmax, sampling,
	// and for the quantized kernels the quantization of the activations.
	InstrPerUnit float64 `json:"instr_per_unit"`
}

// DeriveKernels solves, for each kernel measured on two shapes, the two
// equations instr = a·w + b·ActivationUnits(MeanPos) for the per-weight
// cost a and the per-unit cost b, where w is the weights the kernel itself
// multiplies: MatmulWeights less the run's F32Weights, whose instructions
// (at the f32 kernel's per-weight cost, derived first) are taken off instr.
// It fails when a kernel lacks a second shape, when a run has float32
// weights but no f32 kernel was measured, or when the solution is not
// positive.
func DeriveKernels(runs []Run) (map[string]Kernel, error) {
	by := map[string][]Run{}
	var names []string
	for _, r := range runs {
		if _, ok := by[r.Kernel]; !ok {
			names = append(names, r.Kernel)
		}
		by[r.Kernel] = append(by[r.Kernel], r)
	}
	// f32 first: the others' float32 weights are priced with it.
	slices.SortStableFunc(names, func(a, b string) int {
		switch {
		case a == b:
			return 0
		case a == "f32":
			return -1
		case b == "f32":
			return 1
		}
		return strings.Compare(a, b)
	})
	out := map[string]Kernel{}
	for _, name := range names {
		rs := by[name]
		if len(rs) != 2 || rs[0].Shape == rs[1].Shape {
			return nil, fmt.Errorf("kernel %s: need runs on exactly two different shapes, have %d", name, len(rs))
		}
		var w, instr [2]float64
		for i, r := range rs {
			w[i], instr[i] = float64(r.Shape.MatmulWeights()-r.F32Weights), r.InstrPerToken
			if r.F32Weights > 0 {
				f, ok := out["f32"]
				if !ok || name == "f32" {
					return nil, fmt.Errorf("kernel %s: run %s keeps %d weights in float32, but no f32 kernel is measured to price them", name, r.File, r.F32Weights)
				}
				instr[i] -= f.InstrPerWeight * float64(r.F32Weights)
			}
		}
		u1, u2 := rs[0].Shape.ActivationUnits(rs[0].MeanPos), rs[1].Shape.ActivationUnits(rs[1].MeanPos)
		det := w[0]*u2 - w[1]*u1
		if math.Abs(det) < 1e-9*w[0]*u2 {
			return nil, fmt.Errorf("kernel %s: the two shapes are proportional; use shapes of different proportions", name)
		}
		a := (instr[0]*u2 - instr[1]*u1) / det
		b := (w[0]*instr[1] - w[1]*instr[0]) / det
		if a <= 0 || b <= 0 {
			return nil, fmt.Errorf("kernel %s: derived costs %.3g instr/weight and %.3g instr/unit are not both positive", name, a, b)
		}
		out[name] = Kernel{Name: name, InstrPerWeight: a, InstrPerUnit: b}
	}
	return out, nil
}

// measured returns the kernels derived from kernels.json, once.
var measured = sync.OnceValues(func() (map[string]Kernel, error) {
	var r Runs
	if err := json.Unmarshal(kernelsJSON, &r); err != nil {
		return nil, fmt.Errorf("platform/cost: kernels.json: %w", err)
	}
	return DeriveKernels(r.Runs)
})

// Kernels returns the measured kernels sorted by name.
func Kernels() []Kernel {
	m, err := measured()
	if err != nil {
		panic(err) // kernels.json is embedded and checked by TestKernelsDerive
	}
	out := make([]Kernel, 0, len(m))
	for _, k := range m {
		out = append(out, k)
	}
	slices.SortFunc(out, func(a, b Kernel) int { return strings.Compare(a.Name, b.Name) })
	return out
}

func kernel(name string) Kernel {
	m, err := measured()
	if err != nil {
		panic(err)
	}
	return m[name]
}
