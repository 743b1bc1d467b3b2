package model

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"math"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// allGroupwise lists every group-wise format.
func allGroupwise() []Groupwise {
	var out []Groupwise
	for _, b := range groupwiseBits {
		for _, g := range groupwiseGroups {
			for _, a := range []bool{false, true} {
				out = append(out, Groupwise{Bits: b, Group: g, Asym: a})
			}
		}
	}
	return out
}

func TestGroupwiseTypeIDs(t *testing.T) {
	seen := map[Type]bool{}
	for _, g := range allGroupwise() {
		typ, err := GroupwiseType(g)
		require.NoError(t, err)
		assert.False(t, seen[typ], "%v: duplicate id", g)
		seen[typ] = true
		assert.GreaterOrEqual(t, typ, GroupwiseTag, "outside ggml's range")
		back, ok := typ.Groupwise()
		require.True(t, ok, "%v", g)
		assert.Equal(t, g, back)
		assert.True(t, typ.Valid())
		assert.Equal(t, int64(g.Group), typ.BlockSize())
		assert.Equal(t, int64(g.Group*g.Bits/8+2+2*b2i(g.Asym)), typ.BlockBytes())
		parsed, err := ParseType(typ.String())
		require.NoError(t, err)
		assert.Equal(t, typ, parsed)
	}
	assert.Equal(t, "G2A64", mustGW(t, Groupwise{2, 64, true}).String())
	assert.Equal(t, Type(0x47570206), mustGW(t, Groupwise{2, 64, false}))
	for _, bad := range []Type{GroupwiseTag, GroupwiseTag | 3<<8 | 6, GroupwiseTag | 2<<8 | 4, GroupwiseTag | 2<<8 | 9,
		GroupwiseTag | 2<<12 | 2<<8 | 6, GroupwiseTag | 0x20 | 2<<8 | 6, TypeQ4_0, TypeF32} {
		_, ok := bad.Groupwise()
		assert.False(t, ok, "%#x", uint32(bad))
	}
	_, err := RowBytesOf(GroupwiseTag|2<<8|9, 512)
	require.ErrorIs(t, err, ErrUnknownType)
	for _, name := range []string{"g3s64", "g2x64", "g2s48", "g2s064", "g2s", "g"} {
		_, err := ParseType(name)
		assert.Error(t, err, name)
	}
	_, err = GroupwiseType(Groupwise{Bits: 2, Group: 16})
	assert.ErrorContains(t, err, "group of 32, 64, 128 or 256")
}

func RowBytesOf(t Type, n int64) (int64, error) { return t.RowBytes(n) }

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

func mustGW(tb testing.TB, g Groupwise) Type {
	tb.Helper()
	typ, err := GroupwiseType(g)
	require.NoError(tb, err)
	return typ
}

// TestGroupwiseBytes checks two groups worked by hand from GROUPWISE.md.
func TestGroupwiseBytes(t *testing.T) {
	sym := make([]float32, 32)
	copy(sym, []float32{-1, 0.5, 0.24, 0.26})
	// d = -1 / -2 = 0.5 (f16 0x3800); codes trunc(x·2 + 2.5): 0, 3, 2, 3, then 2.
	want := append([]byte{0x00, 0x38, 0xEC}, repeat(0xAA, 7)...)
	got, err := EncodeRow(nil, sym, mustGW(t, Groupwise{2, 32, false}))
	require.NoError(t, err)
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("G2S32 bytes (-want +got):\n%s", d)
	}
	back, err := DecodeRow(nil, got, mustGW(t, Groupwise{2, 32, false}))
	require.NoError(t, err)
	assert.Equal(t, []float32{-1, 0.5, 0, 0.5, 0}, back[:5])

	asym := make([]float32, 32)
	for i := range asym {
		asym[i] = 0.5
	}
	asym[0], asym[1] = -1, 2
	// d = 3/15 → f16 0x3266 (0.19995117), min -1 (0xBC00); codes 0, 15, then 8.
	want = append([]byte{0x66, 0x32, 0x00, 0xBC, 0xF0}, repeat(0x88, 15)...)
	typ := mustGW(t, Groupwise{4, 32, true})
	got, err = EncodeRow(nil, asym, typ)
	require.NoError(t, err)
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("G4A32 bytes (-want +got):\n%s", d)
	}
	back, err = DecodeRow(nil, got, typ)
	require.NoError(t, err)
	d := float32(0.19995117)
	assert.Equal(t, []float32{-1, float32(15*d) - 1, float32(8*d) - 1}, back[:3])
}

func repeat(b byte, n int) []byte {
	out := make([]byte, n)
	for i := range out {
		out[i] = b
	}
	return out
}

// TestGroupwiseRoundTrip encodes and decodes every format and checks each
// value's error against the step its group's stored scale allows.
func TestGroupwiseRoundTrip(t *testing.T) {
	x := buildInput(4096)
	x[7] = 0 // a zero and a constant group must survive too
	for i := 1024; i < 1280; i++ {
		x[i] = 0.125
	}
	for _, g := range allGroupwise() {
		t.Run(g.String(), func(t *testing.T) {
			typ := mustGW(t, g)
			enc, err := EncodeRow(nil, x, typ)
			require.NoError(t, err)
			n, err := typ.RowBytes(int64(len(x)))
			require.NoError(t, err)
			require.Len(t, enc, int(n))
			back, err := DecodeRow(nil, enc, typ)
			require.NoError(t, err)
			require.Len(t, back, len(x))
			bb := int(typ.BlockBytes())
			for b := 0; b < len(x)/g.Group; b++ {
				d, m, _, _ := groupHeader(enc[b*bb:], g)
				blk := x[b*g.Group : (b+1)*g.Group]
				lo, hi := minMax(blk)
				for j, v := range blk {
					got := back[b*g.Group+j]
					e := math.Abs(float64(v) - float64(got))
					// Half a step, the float16 rounding of the scale
					// stretched over the codes, and of the minimum.
					bound := math.Abs(float64(d))*(0.5+float64(int(1)<<g.Bits)*1e-3) + math.Abs(float64(m)-float64(lo)) + 1e-7
					if !g.Asym {
						// The side opposite the largest magnitude clips at
						// 2^(bits-1)-1 steps.
						if lim := float64(int(1)<<(g.Bits-1)-1) * math.Abs(float64(d)); math.Abs(float64(v)) > lim && (v > 0) == (d > 0) {
							bound += math.Abs(float64(v)) - lim
						}
					}
					if e > bound {
						t.Fatalf("group %d element %d: %v decodes to %v (error %g > %g; lo %v hi %v d %v)", b, j, v, got, e, bound, lo, hi, d)
					}
				}
			}
			// Re-encoding the decoded values changes nothing for the
			// symmetric formats, whose scale comes back the same.
			if !g.Asym {
				again, err := EncodeRow(nil, back, typ)
				require.NoError(t, err)
				assert.Equal(t, enc, again)
			}
		})
	}
}

// TestGroupwiseMoreBitsLessError is the direction of quality: at every
// group size and symmetry, each extra bit width lowers the RMSE, and so
// does a smaller group at every width.
func TestGroupwiseMoreBitsLessError(t *testing.T) {
	x := buildInput(1 << 14)
	rmse := func(g Groupwise) float64 {
		enc, err := EncodeRow(nil, x, mustGW(t, g))
		require.NoError(t, err)
		back, err := DecodeRow(nil, enc, mustGW(t, g))
		require.NoError(t, err)
		var s float64
		for i, v := range x {
			e := float64(v) - float64(back[i])
			s += e * e
		}
		return math.Sqrt(s / float64(len(x)))
	}
	for _, asym := range []bool{false, true} {
		for _, gs := range groupwiseGroups {
			r2, r4, r8 := rmse(Groupwise{2, gs, asym}), rmse(Groupwise{4, gs, asym}), rmse(Groupwise{8, gs, asym})
			assert.Less(t, r8, r4, "group %d asym %v", gs, asym)
			assert.Less(t, r4, r2, "group %d asym %v", gs, asym)
		}
		for _, b := range groupwiseBits {
			assert.Less(t, rmse(Groupwise{b, 32, asym}), rmse(Groupwise{b, 256, asym}), "%d bits asym %v", b, asym)
		}
	}
}

func TestFallbackGroupwise(t *testing.T) {
	g2a64 := mustGW(t, Groupwise{2, 64, true})
	tests := []struct {
		row  int64
		src  Type
		want Type
	}{
		{128, TypeF32, g2a64},
		{288, TypeF32, mustGW(t, Groupwise{2, 32, true})},
		{172, TypeF32, TypeF32},
		{172, TypeF16, TypeF16},
		{172, TypeQ8_0, TypeF32},
	}
	for _, tc := range tests {
		assert.Equal(t, tc.want, FallbackGroupwise(g2a64, tc.row, tc.src), "row %d from %s", tc.row, tc.src)
	}
	assert.Equal(t, TypeQ4_0, FallbackGroupwise(TypeQ4_0, 48, TypeF32), "not group-wise: unchanged")
}

// TestGroupwiseSameOnEveryBuild holds the encoder's bytes and the
// decoder's values to digests taken on the default amd64 build (no fused
// multiply-add); .ci/run runs it under GOAMD64=v3 and on arm64 too,
// where an unrounded product would be fused and change them.
func TestGroupwiseSameOnEveryBuild(t *testing.T) {
	x := buildInput(1 << 16)
	got := map[string][2]string{}
	for _, g := range allGroupwise() {
		enc, err := EncodeRow(nil, x, mustGW(t, g))
		require.NoError(t, err)
		back, err := DecodeRow(nil, enc, mustGW(t, g))
		require.NoError(t, err)
		vb := make([]byte, 4*len(back))
		for i, v := range back {
			binary.LittleEndian.PutUint32(vb[4*i:], math.Float32bits(v))
		}
		e, d := sha256.Sum256(enc), sha256.Sum256(vb)
		got[g.String()] = [2]string{hex.EncodeToString(e[:8]), hex.EncodeToString(d[:8])}
	}
	if d := cmp.Diff(groupwiseDigests, got); d != "" {
		t.Errorf("group-wise digests (-want +got):\n%s", d)
	}
}

// groupwiseDigests are the first 8 bytes of the SHA-256 of each format's
// encoding of buildInput(1<<16) and of its decoded float32 values.
var groupwiseDigests = map[string][2]string{
	"G2A128": {"c79899671508cb9a", "78dace0734e47cd2"},
	"G2A256": {"a8dbd40ebc2a005a", "66b1deddf2d7d29d"},
	"G2A32":  {"76943d2ea54569c5", "e3a9a9950a374f46"},
	"G2A64":  {"2e488f02d0ec2db2", "ad8361fa8dc17f82"},
	"G2S128": {"3ac856a22813bcb6", "73c5f6814fe80f26"},
	"G2S256": {"c6de8aa7f2a70426", "73cde0f661755c91"},
	"G2S32":  {"72d06c095f8d2658", "2593483e02c471d4"},
	"G2S64":  {"426f4e1f1c47e35d", "4804f1498359ed14"},
	"G4A128": {"5f8eda5beaf8504f", "0fa4aa41b3156a05"},
	"G4A256": {"88a795d0cab59df3", "6f2b6f17c3bf8600"},
	"G4A32":  {"56af667f55fb68d3", "cbcd81dcd1bddb69"},
	"G4A64":  {"4ab9d2acad89d39e", "9a9b84419a95f24e"},
	"G4S128": {"ee82ff8e157a23bc", "6f6a680999860744"},
	"G4S256": {"8d664fb1e3958ca5", "b51e3fdfb7a01930"},
	"G4S32":  {"157c49ba0b33bf64", "7d4cf9f3622aadf4"},
	"G4S64":  {"2a25e7d248cbe436", "48156b913886e5bc"},
	"G8A128": {"616c87807b08f713", "7d9744318e6f03a7"},
	"G8A256": {"672210287e955e4b", "71a8396bfc897a8e"},
	"G8A32":  {"dfade101235d12b8", "c59f6d584ada6bca"},
	"G8A64":  {"98fe8a0a97986ed9", "300dfb5540ce909a"},
	"G8S128": {"6ded872584d85c14", "37a25653ffcc0d85"},
	"G8S256": {"3276d6c6963b7060", "455d19d39c4d2184"},
	"G8S32":  {"c2ae5e93e11af590", "398e0c6aa2d5e181"},
	"G8S64":  {"4e0139ce141f2b7b", "4ec59e0348df63b8"},
}
