package model

import (
	"errors"
	"fmt"
	"math/bits"
)

// Type is a ggml tensor type id as stored in a GGUF tensor info.
//
// The ids, block sizes and block byte sizes follow ggml's `enum ggml_type`
// (ggml-org/llama.cpp ggml/include/ggml.h) and the block structs with their
// static_asserts in ggml/src/ggml-common.h. Ids whose top 16 bits are
// GroupwiseTag are tinyprof's own group-wise types (see Groupwise and
// GROUPWISE.md), outside ggml's range so that ggml refuses them.
type Type uint32

// The ggml tensor types. Ids 4, 5, 31–33 and 36–38 were removed from ggml
// and are rejected by its GGUF reader; so are they here.
const (
	TypeF32     Type = 0
	TypeF16     Type = 1
	TypeQ4_0    Type = 2
	TypeQ4_1    Type = 3
	TypeQ5_0    Type = 6
	TypeQ5_1    Type = 7
	TypeQ8_0    Type = 8
	TypeQ8_1    Type = 9
	TypeQ2_K    Type = 10
	TypeQ3_K    Type = 11
	TypeQ4_K    Type = 12
	TypeQ5_K    Type = 13
	TypeQ6_K    Type = 14
	TypeQ8_K    Type = 15
	TypeIQ2_XXS Type = 16
	TypeIQ2_XS  Type = 17
	TypeIQ3_XXS Type = 18
	TypeIQ1_S   Type = 19
	TypeIQ4_NL  Type = 20
	TypeIQ3_S   Type = 21
	TypeIQ2_S   Type = 22
	TypeIQ4_XS  Type = 23
	TypeI8      Type = 24
	TypeI16     Type = 25
	TypeI32     Type = 26
	TypeI64     Type = 27
	TypeF64     Type = 28
	TypeIQ1_M   Type = 29
	TypeBF16    Type = 30
	TypeTQ1_0   Type = 34
	TypeTQ2_0   Type = 35
	TypeMXFP4   Type = 39
	TypeNVFP4   Type = 40
	TypeQ1_0    Type = 41
	TypeQ2_0    Type = 42

	// TypeCount is one past the newest type id this package knows
	// (GGML_TYPE_COUNT = 43 in ggml.h as of 2026-08).
	TypeCount Type = 43
)

// typeTraits is one row of ggml's type_traits table: elements per block and
// bytes per block. A zero block size marks a removed id.
type typeTraits struct {
	name      string
	blockSize int64
	typeSize  int64
}

// traits is indexed by Type. Block byte sizes are the sizeof() of the
// block structs in ggml/src/ggml-common.h (each is static_assert-ed there).
var traits = [TypeCount]typeTraits{
	TypeF32:     {"F32", 1, 4},
	TypeF16:     {"F16", 1, 2},
	TypeQ4_0:    {"Q4_0", 32, 18},
	TypeQ4_1:    {"Q4_1", 32, 20},
	4:           {"Q4_2 (removed)", 0, 0},
	5:           {"Q4_3 (removed)", 0, 0},
	TypeQ5_0:    {"Q5_0", 32, 22},
	TypeQ5_1:    {"Q5_1", 32, 24},
	TypeQ8_0:    {"Q8_0", 32, 34},
	TypeQ8_1:    {"Q8_1", 32, 36},
	TypeQ2_K:    {"Q2_K", 256, 84},
	TypeQ3_K:    {"Q3_K", 256, 110},
	TypeQ4_K:    {"Q4_K", 256, 144},
	TypeQ5_K:    {"Q5_K", 256, 176},
	TypeQ6_K:    {"Q6_K", 256, 210},
	TypeQ8_K:    {"Q8_K", 256, 292},
	TypeIQ2_XXS: {"IQ2_XXS", 256, 66},
	TypeIQ2_XS:  {"IQ2_XS", 256, 74},
	TypeIQ3_XXS: {"IQ3_XXS", 256, 98},
	TypeIQ1_S:   {"IQ1_S", 256, 50},
	TypeIQ4_NL:  {"IQ4_NL", 32, 18},
	TypeIQ3_S:   {"IQ3_S", 256, 110},
	TypeIQ2_S:   {"IQ2_S", 256, 82},
	TypeIQ4_XS:  {"IQ4_XS", 256, 136},
	TypeI8:      {"I8", 1, 1},
	TypeI16:     {"I16", 1, 2},
	TypeI32:     {"I32", 1, 4},
	TypeI64:     {"I64", 1, 8},
	TypeF64:     {"F64", 1, 8},
	TypeIQ1_M:   {"IQ1_M", 256, 56},
	TypeBF16:    {"BF16", 1, 2},
	31:          {"Q4_0_4_4 (removed)", 0, 0},
	32:          {"Q4_0_4_8 (removed)", 0, 0},
	33:          {"Q4_0_8_8 (removed)", 0, 0},
	TypeTQ1_0:   {"TQ1_0", 256, 54},
	TypeTQ2_0:   {"TQ2_0", 256, 66},
	36:          {"IQ4_NL_4_4 (removed)", 0, 0},
	37:          {"IQ4_NL_4_8 (removed)", 0, 0},
	38:          {"IQ4_NL_8_8 (removed)", 0, 0},
	TypeMXFP4:   {"MXFP4", 32, 17},
	TypeNVFP4:   {"NVFP4", 64, 36},
	TypeQ1_0:    {"Q1_0", 128, 18},
	TypeQ2_0:    {"Q2_0", 64, 18},
}

// ErrUnknownType reports a tensor type id this package does not know,
// usually one added to ggml after this package was written.
var ErrUnknownType = errors.New("unknown ggml tensor type")

// String returns ggml's name for the type ("Q4_0"), or "type(N)" for an
// unknown id.
func (t Type) String() string {
	if g, ok := t.Groupwise(); ok {
		return g.String()
	}
	if t < TypeCount {
		return traits[t].name
	}
	return fmt.Sprintf("type(%d)", uint32(t))
}

// Valid reports whether t is a type ggml can store in a GGUF file today.
// Group-wise types (Groupwise) are valid too, though only tinyprof reads them.
func (t Type) Valid() bool {
	_, gw := t.Groupwise()
	return gw || t < TypeCount && traits[t].blockSize > 0
}

// BlockSize returns the number of elements in one block of t (1 for plain
// types, 32 for Q4_0, 256 for the K-quants), or 0 for an unknown or removed id.
func (t Type) BlockSize() int64 {
	if g, ok := t.Groupwise(); ok {
		return int64(g.Group)
	}
	if t < TypeCount {
		return traits[t].blockSize
	}
	return 0
}

// BlockBytes returns the size in bytes of one block of t, or 0 for an
// unknown or removed id.
func (t Type) BlockBytes() int64 {
	if g, ok := t.Groupwise(); ok {
		return g.blockBytes()
	}
	if t < TypeCount {
		return traits[t].typeSize
	}
	return 0
}

// check returns an error for an unknown or removed type.
func (t Type) check() error {
	if _, ok := t.Groupwise(); ok {
		return nil
	}
	if t >= TypeCount {
		return fmt.Errorf("%w: id %d is newer than this reader (it knows ids below %d); update tinyprof", ErrUnknownType, uint32(t), uint32(TypeCount))
	}
	if traits[t].blockSize == 0 {
		return fmt.Errorf("%w: id %d (%s) was removed from ggml; re-convert the model with a current llama.cpp", ErrUnknownType, uint32(t), traits[t].name)
	}
	return nil
}

// RowBytes returns the bytes needed for n elements of type t (ggml_row_size),
// or an error if n is not a whole number of blocks or the size overflows int64.
func (t Type) RowBytes(n int64) (int64, error) {
	if err := t.check(); err != nil {
		return 0, err
	}
	bs := t.BlockSize()
	if n < 0 || n%bs != 0 {
		return 0, fmt.Errorf("%d elements of %s are not a whole number of %d-element blocks", n, t, bs)
	}
	hi, lo := bits.Mul64(uint64(n/bs), uint64(t.BlockBytes()))
	if hi != 0 || lo > 1<<63-1 {
		return 0, fmt.Errorf("%d elements of %s: size overflows int64", n, t)
	}
	return int64(lo), nil
}

// ParseType returns the type called name, case-insensitively ("q4_0",
// "Q4_K", or a group-wise name such as "g2a64").
func ParseType(name string) (Type, error) {
	if t, ok := parseGroupwise(name); ok {
		return t, nil
	}
	for i := range TypeCount {
		t := Type(i)
		if t.Valid() && equalFold(traits[t].name, name) {
			return t, nil
		}
	}
	return 0, fmt.Errorf("%w: %q; use a ggml type name such as q8_0, q4_0, q4_k, or a group-wise one such as g4s32 or g2a64", ErrUnknownType, name)
}

func equalFold(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		x, y := a[i], b[i]
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}
