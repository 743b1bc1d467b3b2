package model

import (
	"encoding/binary"
	"fmt"
	"math/bits"
	"strconv"
	"strings"
)

// Group-wise integer quantization: tinyprof's own tensor types, with 8, 4
// or 2 bits per weight and a float16 scale (and, asymmetric, a float16
// minimum) per group of 32, 64, 128 or 256 weights. GROUPWISE.md
// specifies the bytes; this file is the reference encoder and decoder,
// and firmware/runtime and model/llama run the same arithmetic.
//
// The types live in GGUF files under type ids that are not ggml's: ggml's
// ids are small integers (below TypeCount), these all have GroupwiseTag in
// their top 16 bits. ggml's GGUF reader rejects such a file with "invalid
// ggml type" instead of misreading it.

// GroupwiseTag is the top 16 bits of every group-wise type id, "GW" read
// as a big-endian number (0x4757).
const GroupwiseTag Type = 0x4757 << 16

// The group-wise parameters tinyprof writes and reads (arrays, so no
// caller can change them).
var (
	groupwiseBits   = [...]int{2, 4, 8}
	groupwiseGroups = [...]int{32, 64, 128, 256}
)

// Groupwise is the parameters of a group-wise type.
type Groupwise struct {
	Bits  int  // 2, 4 or 8 bits per weight
	Group int  // weights per group: 32, 64, 128 or 256
	Asym  bool // a float16 minimum per group besides the scale
}

// GroupwiseType returns the type id of the group-wise format g:
// GroupwiseTag | asym<<12 | bits<<8 | log2(group). It fails unless
// Bits is 2, 4 or 8 and Group is 32, 64, 128 or 256.
func GroupwiseType(g Groupwise) (Type, error) {
	okBits, okGroup := false, false
	for _, b := range groupwiseBits {
		okBits = okBits || b == g.Bits
	}
	for _, s := range groupwiseGroups {
		okGroup = okGroup || s == g.Group
	}
	if !okBits || !okGroup {
		return 0, fmt.Errorf("group-wise %d bits in groups of %d: use 8, 4 or 2 bits and a group of 32, 64, 128 or 256", g.Bits, g.Group)
	}
	t := GroupwiseTag | Type(g.Bits)<<8 | Type(bits.TrailingZeros(uint(g.Group)))
	if g.Asym {
		t |= 1 << 12
	}
	return t, nil
}

// Groupwise returns the parameters of a group-wise type, and false for
// any other id (ggml's, or one with the tag but fields out of range).
func (t Type) Groupwise() (Groupwise, bool) {
	if t&0xffff0000 != GroupwiseTag {
		return Groupwise{}, false
	}
	// Rebuilding the id from the fields rejects every field out of range
	// and every stray bit.
	g := Groupwise{Bits: int(t >> 8 & 0xf), Group: 1 << (t & 0xf), Asym: t>>12&0xf == 1}
	if gt, err := GroupwiseType(g); err != nil || gt != t {
		return Groupwise{}, false
	}
	return g, true
}

// String returns the type's name: "G" bits, "S" (symmetric) or "A"
// (asymmetric), group size; G2A64 is 2 bits, asymmetric, groups of 64.
func (g Groupwise) String() string {
	s := "S"
	if g.Asym {
		s = "A"
	}
	return fmt.Sprintf("G%d%s%d", g.Bits, s, g.Group)
}

// blockBytes is the size of one group: the float16 scale, the float16
// minimum when asymmetric, then Group×Bits/8 bytes of codes.
func (g Groupwise) blockBytes() int64 {
	n := int64(2 + g.Group*g.Bits/8)
	if g.Asym {
		n += 2
	}
	return n
}

// parseGroupwise reads a name String writes, case-insensitively.
func parseGroupwise(name string) (Type, bool) {
	s, ok := strings.CutPrefix(strings.ToUpper(name), "G")
	if !ok || len(s) < 3 {
		return 0, false
	}
	b, err := strconv.Atoi(s[:1])
	if err != nil {
		return 0, false
	}
	asym := s[1] == 'A'
	if !asym && s[1] != 'S' {
		return 0, false
	}
	gs, err := strconv.Atoi(s[2:])
	if err != nil || strconv.Itoa(gs) != s[2:] {
		return 0, false
	}
	t, err := GroupwiseType(Groupwise{Bits: b, Group: gs, Asym: asym})
	return t, err == nil
}

// quantizeGroupwise encodes whole groups of x into out (len(x)/Group ×
// blockBytes bytes). Each value is coded against the float16 scale and
// minimum as stored, not the float32 ones they were rounded from, so that
// the decoder's values are the nearest the stored header allows.
func quantizeGroupwise(out []byte, x []float32, g Groupwise) {
	qmax := int32(1)<<g.Bits - 1
	half := float32(int32(1) << (g.Bits - 1))
	perByte := 8 / g.Bits
	bb := int(g.blockBytes())
	for ; len(x) >= g.Group; x, out = x[g.Group:], out[bb:] {
		blk := x[:g.Group:g.Group]
		y := out[:bb:bb]
		var d, lo float32
		var bias float32 // added to the scaled value before truncation
		codes := y[2:]
		if g.Asym {
			l, h := minMax(blk)
			lo16 := fp32ToFP16(l)
			d16 := fp32ToFP16((h - l) / float32(qmax))
			binary.LittleEndian.PutUint16(y, d16)
			binary.LittleEndian.PutUint16(y[2:], lo16)
			d, lo, bias, codes = fp16ToFP32(d16), fp16ToFP32(lo16), 0.5, y[4:]
		} else {
			d16 := fp32ToFP16(absMax(blk) / -half)
			binary.LittleEndian.PutUint16(y, d16)
			d, bias = fp16ToFP32(d16), half+0.5
		}
		var id float32
		if d != 0 {
			id = 1 / d
		}
		j := 0
		for o := range codes[:g.Group/perByte] {
			var packed byte
			for k := 0; k < 8; k += g.Bits {
				// float32() rounds the product before the add, on every build.
				c := int32(float32(float32(blk[j]-lo)*id) + bias)
				packed |= byte(max(0, min(qmax, c))) << k
				j++
			}
			codes[o] = packed
		}
	}
}

// decodeGroupwise appends the values of whole groups of src:
// (code − offset) × scale + minimum, with offset 2^(bits−1) and minimum 0
// when symmetric, offset 0 when asymmetric; the product rounded to float32
// before the add.
func decodeGroupwise(dst []float32, src []byte, g Groupwise) []float32 {
	bb := int(g.blockBytes())
	mask := byte(1)<<g.Bits - 1
	perByte := 8 / g.Bits
	for ; len(src) >= bb; src = src[bb:] {
		d, m, off, codes := groupHeader(src, g)
		for j := range g.Group {
			c := int32(codes[j/perByte] >> (j % perByte * g.Bits) & mask)
			dst = append(dst, float32(float32(c-off)*d)+m)
		}
	}
	return dst
}

// groupHeader returns a group's scale, minimum, code offset and codes.
func groupHeader(b []byte, g Groupwise) (d, m float32, off int32, codes []byte) {
	d = fp16ToFP32(binary.LittleEndian.Uint16(b))
	if g.Asym {
		return d, fp16ToFP32(binary.LittleEndian.Uint16(b[2:])), 0, b[4:]
	}
	return d, 0, int32(1) << (g.Bits - 1), b[2:]
}

// FallbackGroupwise returns the group-wise type a matrix with rows of row
// elements gets when want is asked for: want when its group divides the
// row, else the same bits and symmetry with the largest smaller group
// that does; when none does, src if it is F16 or BF16, else F32, which
// every tinyprof runtime reads.
func FallbackGroupwise(want Type, row int64, src Type) Type {
	g, ok := want.Groupwise()
	if !ok {
		return want
	}
	for s := g.Group; s >= groupwiseGroups[0]; s /= 2 {
		if row%int64(s) == 0 {
			g.Group = s
			t, _ := GroupwiseType(g)
			return t
		}
	}
	if src == TypeF16 || src == TypeBF16 {
		return src
	}
	return TypeF32
}
