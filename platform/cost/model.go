package cost

import (
	"fmt"
	"math"
	"time"

	"github.com/tinyprof/tinyprof/platform"
)

// Config is one way to run a model on a board.
type Config struct {
	// Platform is the board; its CPUMHz and Cores are the board's, and
	// MHz and Cores below choose within them.
	Platform platform.Platform
	Shape    Shape
	Format   Format
	// WeightBytes is the bytes of weights in each memory region, as
	// model.Fit placed them. Only the share the matrix products stream is
	// read per token (Shape.MatmulWeights over Parameters).
	WeightBytes map[platform.Region]int64
	// F32Weights is how many of the multiplied weights the file keeps in
	// float32 (see F32Weights); they run the f32 kernel.
	F32Weights int64
	// Parameters is the model's total weight count (model.Info.Parameters);
	// 0 means Shape.MatmulWeights.
	Parameters int64
	// KVIn is where the KV cache lives; KVBytesPerElem its element size
	// (0 means 4, float32).
	KVIn           platform.Region
	KVBytesPerElem int
	// MHz is the CPU clock; 0 means Platform.CPUMHz. Cores is how many
	// cores share the matrix products; 0 means 1. SIMD says the firmware
	// uses the vendor's SIMD dot product (Platform.SIMDSpeedup).
	MHz   int
	Cores int
	SIMD  bool
}

// Breakdown is the modelled time of one forward pass, in seconds.
type Breakdown struct {
	Compute float64 `json:"compute_s"`
	Weights float64 `json:"weights_s"`
	KV      float64 `json:"kv_s"`
	Total   float64 `json:"total_s"`
}

// Scales are the fitted global factors on compute and memory time.
type Scales struct {
	Compute float64 `json:"compute"`
	Memory  float64 `json:"memory"`
}

// unit is no scaling: the model before calibration.
var unit = Scales{Compute: 1, Memory: 1}

// parallelEfficiency is the share of a second core's time the matrix
// products gain when split by rows, after the synchronisation per matrix.
// An estimate.
const parallelEfficiency = 0.85

// Check reports what is wrong with c, or nil.
func (c Config) Check() error {
	p := c.Platform
	switch {
	case p.CPI <= 0:
		return fmt.Errorf("platform %s has no cost model (it is emulated, or its row lacks CPI): measure it instead", p.Name)
	case c.Shape.Layers <= 0 || c.Shape.Dim <= 0 || c.Shape.HeadDim <= 0:
		return fmt.Errorf("model shape lacks layers or dimensions")
	case c.Cores < 0 || c.Cores > p.Cores:
		return fmt.Errorf("%d cores asked for: %s has %d", c.Cores, p.Name, p.Cores)
	case c.MHz < 0 || c.MHz > p.CPUMHz:
		return fmt.Errorf("%d MHz asked for: %s runs at most %d MHz", c.MHz, p.Name, p.CPUMHz)
	case c.Format.Kernel == "":
		return fmt.Errorf("no weight format given")
	}
	for r, b := range c.WeightBytes {
		if b > 0 && p.Bandwidth.Of(r) <= 0 {
			return fmt.Errorf("weights in %s, which %s cannot read in place", r, p.Name)
		}
	}
	return nil
}

// forward is the modelled time of the forward pass at position pos with
// scales s. It assumes c.Check passed.
func (c Config) forward(pos int, s Scales) Breakdown {
	p := c.Platform
	mhz := c.MHz
	if mhz == 0 {
		mhz = p.CPUMHz
	}
	cores := max(c.Cores, 1)
	k := kernel(c.Format.Kernel)
	w := float64(c.Shape.MatmulWeights())
	f32 := math.Min(float64(max(c.F32Weights, 0)), w)
	matmul := k.InstrPerWeight*c.Format.KernelFactor*(w-f32) + kernel("f32").InstrPerWeight*f32
	if c.SIMD && p.SIMDSpeedup > 1 {
		matmul /= p.SIMDSpeedup
	}
	matmul /= 1 + parallelEfficiency*float64(cores-1)
	other := k.InstrPerUnit * c.Shape.ActivationUnits(float64(pos))
	var b Breakdown
	b.Compute = s.Compute * (matmul + other) * p.CPI / (float64(mhz) * 1e6)

	params := c.Parameters
	if params <= 0 {
		params = c.Shape.MatmulWeights()
	}
	share := math.Min(1, w/float64(params))
	for r, bytes := range c.WeightBytes {
		if bytes > 0 {
			b.Weights += share * float64(bytes) / p.Bandwidth.Of(r)
		}
	}
	kvBytes := c.KVBytesPerElem
	if kvBytes == 0 {
		kvBytes = 4
	}
	if bw := p.Bandwidth.Of(c.KVIn); bw > 0 {
		b.KV = c.Shape.KVBytesRead(pos, kvBytes) / bw
	}
	b.Weights *= s.Memory
	b.KV *= s.Memory
	mem := b.Weights + b.KV
	if p.Prefetch {
		b.Total = math.Max(b.Compute, mem)
	} else {
		b.Total = b.Compute + mem
	}
	return b
}

// Forward returns the calibrated modelled duration of the forward pass at
// position pos. It is what the simulated board charges per token.
func (c Config) Forward(pos int) time.Duration {
	return time.Duration(c.forward(pos, Calibration().Scales).Total * 1e9)
}
