package model

import (
	"crypto/sha256"
	"encoding/hex"
	"math"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// buildInput returns n float32 values that are the same bits on every
// machine and build: each is a sum of four uniform 24-bit integers scaled
// by a power of two (so every operation is exact or a single rounded
// float32 add), with the scale changing per 32-value block across eight
// binades so blocks of every magnitude occur.
func buildInput(n int) []float32 {
	x := make([]float32, n)
	s := uint64(0x9E3779B97F4A7C15)
	next := func() uint64 {
		s ^= s << 13
		s ^= s >> 7
		s ^= s << 17
		return s
	}
	for i := range x {
		var v float32
		for range 4 {
			u := float32(int32(next()>>40)-1<<23) * 0x1p-23 // exact
			v = float32(v + u)
		}
		scale := math.Float32frombits(uint32(127-4-int(i/32%8)) << 23) // 2^-4 … 2^-11
		x[i] = v * scale                                               // exact
	}
	return x
}

// TestEncodeRowSameOnEveryBuild checks the quantizers' output for a
// million values against SHA-256 digests taken from the default amd64
// build (GOAMD64=v1), which has no fused multiply-add instruction and so
// performs every float32 operation separately rounded, as ggml's reference
// compiled with -ffp-contract=off does (TestEncodeRowMatchesGGMLReference
// checks that build against ggml's own bytes). A build that fuses a
// multiply and an add — GOAMD64=v3, arm64, ppc64le, s390x, riscv64 —
// rounds differently and fails here unless every such product is rounded
// explicitly. .ci/run runs this test under GOAMD64=v3 and cross-compiled
// for arm64 under qemu-user.
func TestEncodeRowSameOnEveryBuild(t *testing.T) {
	if raceEnabled {
		t.Skip("a property of the compiled arithmetic, not of concurrency; skipped under the race detector's tenfold slowdown")
	}
	x := buildInput(1 << 20)
	want := map[Type]string{
		TypeF16:  "d3d2e4faf6f4d2db0a2624a3b31263844da3ea503e77e2d34039c3b78b832282",
		TypeBF16: "9fa0b829664e8de58deabfca707202926c5ec293a8c2d9b97f4bd2f41231f197",
		TypeQ8_0: "b0188b72b4a3c83d7661b2d5d55db1040cef6722d2bb8b2cbe7d90d6989d4d71",
		TypeQ4_0: "cb27efb63c0000799193b1d5c982e2853e98e569f3c9a8338a722c8d241a0bf0",
		TypeQ4_1: "4f673dd5fe74f0ddc158508e775bfea554de8d144217a494c708ee96d0ce6d44",
		TypeQ5_0: "f1961110b1754fce29806a9063c56d87fedd6459b281368faf5f3963c57c457e",
		TypeQ5_1: "5394d11d9962cddcb3bc05d69decb3c19e63597d3c4471ac00c6bdd8e2729938",
		TypeQ2_K: "12651033bca872c0c8e04b815de5ea12b680e9745be2a7ca48e9441f988e8621",
		TypeQ4_K: "b784303152e51e3c8b7d8e1d700a5993c991c438d4e77b9a8e590210eee8507a",
	}
	for _, typ := range []Type{TypeF16, TypeBF16, TypeQ8_0, TypeQ4_0, TypeQ4_1, TypeQ5_0, TypeQ5_1, TypeQ2_K, TypeQ4_K} {
		t.Run(typ.String(), func(t *testing.T) {
			out, err := EncodeRow(nil, x, typ)
			require.NoError(t, err)
			sum := sha256.Sum256(out)
			assert.Equal(t, want[typ], hex.EncodeToString(sum[:]))
		})
	}
}

// TestQ8_0RoundsTheProductFirst builds values whose product with Q8_0's
// inverse scale rounds, in float32, to exactly k+0.5 although the exact
// product is just below it. The reference rounds the product and then
// rounds half away from zero (k+1); a fused multiply-subtract inside the
// rounding sees the exact product and gives k.
func TestQ8_0RoundsTheProductFirst(t *testing.T) {
	const amax = 1
	d := float32(amax) / 127
	id := 1 / d
	var vals []float32
	for k := 0; k < 127 && len(vals) < 31; k++ {
		target := (float64(k) + 0.5) / float64(id)
		v := float32(target)
		for range 64 {
			p := float64(v) * float64(id) // exact: 24×24 bits fit in 53
			if float32(p) == float32(k)+0.5 && p != float64(k)+0.5 {
				vals = append(vals, v)
				break
			}
			v = math.Nextafter32(v, 0)
		}
	}
	require.NotEmpty(t, vals, "no tie-after-rounding values found")
	blk := make([]float32, 32)
	blk[0] = amax
	copy(blk[1:], vals)
	out, err := EncodeRow(nil, blk, TypeQ8_0)
	require.NoError(t, err)
	for j, v := range blk {
		p := float32(float64(v) * float64(id))
		want := int8(math.Round(float64(p)))
		assert.Equal(t, want, int8(out[2+j]), "value %d (%v): product %v", j, v, p)
	}
	t.Logf("%d tie-after-rounding values", len(vals))
}
