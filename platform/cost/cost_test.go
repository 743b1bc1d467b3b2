package cost_test

import (
	"math"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tinyprof/tinyprof/platform"
	"github.com/tinyprof/tinyprof/platform/cost"
)

// stories260K is llama2.c's stories260K shape.
var stories260K = cost.Shape{Layers: 5, Dim: 64, Hidden: 172, Heads: 8, KVHeads: 4, HeadDim: 8, Vocab: 512}

func config(t *testing.T, plat string, format string, in platform.Region) cost.Config {
	t.Helper()
	p, err := platform.Lookup(plat)
	require.NoError(t, err)
	f, err := cost.LookupFormat(format)
	require.NoError(t, err)
	w := stories260K.MatmulWeights()
	return cost.Config{Platform: p, Shape: stories260K, Format: f, Parameters: w,
		WeightBytes: map[platform.Region]int64{in: int64(float64(w) * f.BytesPerWeight())}, KVIn: platform.SRAM, Cores: 1}
}

func tokPerSec(t *testing.T, c cost.Config) float64 {
	t.Helper()
	p, err := cost.Predict(c, 5, 256)
	require.NoError(t, err)
	require.Positive(t, p.TokPerSec)
	return p.TokPerSec
}

// TestDirection sweeps one knob at a time: more bandwidth, clock, cores,
// or fewer bits never predict slower, and a longer context never faster.
func TestDirection(t *testing.T) {
	for _, plat := range []string{"esp32s3", "esp32s3-fh4r2", "esp32p4", "rp2350-psram", "stm32h7", "imxrt1176", "k210", "rpi-zero-2w"} {
		t.Run(plat, func(t *testing.T) {
			p, err := platform.Lookup(plat)
			require.NoError(t, err)
			in := platform.SRAM
			if p.PSRAM > 0 {
				in = platform.PSRAM
			}
			base := config(t, plat, "f32", in)

			prev := 0.0
			for _, scale := range []float64{0.25, 0.5, 1, 2, 4} {
				c := base
				c.Platform.Bandwidth = platform.Bandwidths{SRAM: p.Bandwidth.SRAM * scale, PSRAM: p.Bandwidth.PSRAM * scale, Flash: p.Bandwidth.Flash * scale}
				got := tokPerSec(t, c)
				assert.GreaterOrEqual(t, got, prev, "bandwidth ×%v", scale)
				prev = got
			}
			prev = 0
			for mhz := p.CPUMHz / 4; mhz <= p.CPUMHz; mhz += p.CPUMHz / 4 {
				c := base
				c.MHz = mhz
				got := tokPerSec(t, c)
				assert.GreaterOrEqual(t, got, prev, "%d MHz", mhz)
				prev = got
			}
			prev = 0
			for cores := 1; cores <= p.Cores; cores++ {
				c := base
				c.Cores = cores
				got := tokPerSec(t, c)
				assert.GreaterOrEqual(t, got, prev, "%d cores", cores)
				prev = got
			}
			// Fewer bits in the same kernel family never slower: the
			// bytes shrink and the kernel is the same.
			for _, fam := range [][]string{{"q5_1", "q4_1"}, {"q5_0", "q4_0"}} {
				prev = 0
				for _, name := range fam {
					got := tokPerSec(t, config(t, plat, name, in))
					if name == fam[1] {
						assert.GreaterOrEqual(t, got, prev, "%s after %s", name, fam[0])
					}
					prev = got
				}
			}
			prev = math.Inf(1)
			for _, ctx := range []int{64, 128, 256, 512, 1024} {
				p, err := cost.Predict(base, 5, ctx)
				require.NoError(t, err)
				assert.LessOrEqual(t, p.TokPerSec, prev, "context %d", ctx)
				prev = p.TokPerSec
			}
		})
	}
}

// TestFewerBitsOnMemoryBoundBoard: where weights stream from quad PSRAM,
// the 4-bit model beats the float one, as bytes dominate.
func TestFewerBitsOnMemoryBoundBoard(t *testing.T) {
	f32 := tokPerSec(t, config(t, "esp32s3-fh4r2", "f32", platform.PSRAM))
	q8 := tokPerSec(t, config(t, "esp32s3-fh4r2", "q8_0", platform.PSRAM))
	assert.Greater(t, q8, f32)
}

// TestLeaveOneOut: the cross-validation refits without each point, so a
// point's leave-one-out prediction differs from its in-sample one unless
// the fit does not depend on it; the interval comes from those errors.
func TestLeaveOneOut(t *testing.T) {
	c, err := cost.Calibrate(cost.Points())
	require.NoError(t, err)
	require.Len(t, c.Rows, len(cost.Points()))
	var sum float64
	for _, r := range c.Rows {
		assert.InEpsilon(t, r.Predicted/r.Point.TokPerSec, r.Ratio, 1e-12)
		e := math.Log(r.LOORatio)
		sum += e * e
	}
	assert.InEpsilon(t, math.Sqrt(sum/float64(len(c.Rows))), c.Sigma, 1e-12)
	// Leaving out a point the others disagree with moves the fit: with
	// one point perturbed tenfold, its own LOO ratio is far from 1 while
	// the in-sample fit absorbs part of it.
	ps := cost.Points()
	ps[0].TokPerSec *= 10
	bad, err := cost.Calibrate(ps)
	require.NoError(t, err)
	assert.Less(t, bad.Rows[0].LOORatio, bad.Rows[0].Ratio)
	assert.Greater(t, bad.Sigma, c.Sigma)

	_, err = cost.Calibrate(ps[:2])
	require.ErrorContains(t, err, "at least three points")
}

// TestPredictionSaysWhenOutsideRange: a board and kernel no point covers
// says so; a calibration point's own configuration does not.
func TestPredictionSaysWhenOutsideRange(t *testing.T) {
	in, err := cost.Predict(config(t, "esp32s3", "f32", platform.PSRAM), 5, 256)
	require.NoError(t, err)
	assert.Empty(t, in.Outside)
	assert.NotContains(t, in.Interval(), "outside")

	out, err := cost.Predict(config(t, "stm32f4", "q4_k", platform.Flash), 5, 256)
	require.NoError(t, err)
	assert.Contains(t, out.Note(), "estimated from q4_0")
	assert.Contains(t, out.Note(), "no published point streams weights from flash")
	assert.Contains(t, out.Interval(), "outside calibrated range")
	assert.Less(t, out.Low, out.TokPerSec)
	assert.Greater(t, out.High, out.TokPerSec)
}

func TestConfigCheck(t *testing.T) {
	for name, mutate := range map[string]func(*cost.Config){
		"too many cores": func(c *cost.Config) { c.Cores = 9 },
		"too fast":       func(c *cost.Config) { c.MHz = 10_000 },
		"no format":      func(c *cost.Config) { c.Format = cost.Format{} },
		"emulated":       func(c *cost.Config) { c.Platform.CPI = 0 },
		"no bandwidth": func(c *cost.Config) {
			c.WeightBytes = map[platform.Region]int64{platform.Flash: 1}
			c.Platform.Bandwidth.Flash = 0
		},
	} {
		t.Run(name, func(t *testing.T) {
			c := config(t, "esp32s3", "f32", platform.PSRAM)
			mutate(&c)
			_, err := cost.Predict(c, 5, 256)
			require.Error(t, err)
		})
	}
}
