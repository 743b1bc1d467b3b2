package main

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"os"
	"strconv"
	"strings"

	"github.com/tinyprof/tinyprof/internal/limitfile"
)

// vocab is a model's token strings, to decode a run's token ids to text.
type vocab []string

// Limits on a vocabulary read from a hostile file.
const (
	maxVocab      = 1 << 20 // tokens
	maxTokenBytes = 1 << 10 // bytes in one token's string
	maxTokenizer  = 64 << 20
)

var errNoVocab = errors.New("no tokenizer.ggml.tokens")

// ggufVocab reads the tokenizer.ggml.tokens array from a GGUF file's
// metadata (GGUF v2 and v3: little-endian, 64-bit counts), or errNoVocab
// when the file has none. Every length is checked against what is left of
// data before it is used.
func ggufVocab(data []byte) (vocab, error) {
	r := &leReader{b: data}
	if string(r.bytes(4)) != "GGUF" {
		return nil, errors.New("not a GGUF file")
	}
	if v := r.u32(); v < 2 || v > 3 {
		return nil, fmt.Errorf("GGUF version %d: only 2 and 3 carry 64-bit counts", v)
	}
	r.u64() // tensors
	kvs := r.u64()
	for i := uint64(0); i < kvs && r.err == nil; i++ {
		key := r.str()
		typ := r.u32()
		if key == "tokenizer.ggml.tokens" {
			if typ != ggufArray || r.u32() != ggufString {
				return nil, errors.New("tokenizer.ggml.tokens is not an array of strings")
			}
			n := r.u64()
			if n > maxVocab {
				return nil, fmt.Errorf("tokenizer.ggml.tokens claims %d tokens (at most %d)", n, maxVocab)
			}
			v := make(vocab, 0, min(n, uint64(len(data))/8))
			for j := uint64(0); j < n && r.err == nil; j++ {
				v = append(v, r.str())
			}
			return v, r.err
		}
		r.skipValue(typ, 0)
	}
	if r.err != nil {
		return nil, r.err
	}
	return nil, errNoVocab
}

// The GGUF metadata value types this reader needs by name.
const (
	ggufString = 8
	ggufArray  = 9
)

// ggufSizes are the byte sizes of GGUF's fixed-size value types.
var ggufSizes = map[uint32]int{0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8}

// llama2cVocab reads a llama2.c tokenizer.bin (the tokenizer llama2.c
// checkpoints leave outside the model file): an int32 maximum token
// length, then per token a float32 score, an int32 length and the bytes.
// n is the model's vocabulary size.
func llama2cVocab(path string, n int) (vocab, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("read the tokenizer: %w", err)
	}
	if st.Size() > maxTokenizer {
		return nil, fmt.Errorf("tokenizer %s is %d bytes: more than a tokenizer (at most %d)", path, st.Size(), maxTokenizer)
	}
	data, err := limitfile.ReadFile(path, "the tokenizer", maxTokenizer)
	if err != nil {
		return nil, err
	}
	if n <= 0 || n > maxVocab {
		return nil, fmt.Errorf("tokenizer %s: the model's vocabulary size %d is unusable", path, n)
	}
	r := &leReader{b: data}
	r.u32() // max token length
	v := make(vocab, 0, n)
	for range n {
		r.u32() // score
		l := r.u32()
		if l > maxTokenBytes {
			return nil, fmt.Errorf("tokenizer %s: token %d claims %d bytes: not a llama2.c tokenizer.bin", path, len(v), l)
		}
		v = append(v, string(r.bytes(int(l))))
		if r.err != nil {
			return nil, fmt.Errorf("tokenizer %s: %w after %d of %d tokens: not the tokenizer of this model", path, r.err, len(v)-1, n)
		}
	}
	return v, nil
}

// decode turns ids into text: SentencePiece's ▁ is a space, <0xNN> a raw
// byte, and an id outside the vocabulary U+FFFD.
func (v vocab) decode(ids []uint32) string {
	var b strings.Builder
	for _, id := range ids {
		if int64(id) >= int64(len(v)) {
			b.WriteString("\uFFFD")
			continue
		}
		s := v[id]
		if len(s) == 6 && strings.HasPrefix(s, "<0x") && s[5] == '>' {
			if c, err := strconv.ParseUint(s[3:5], 16, 8); err == nil {
				b.WriteByte(byte(c))
				continue
			}
		}
		b.WriteString(strings.ReplaceAll(s, "\u2581", " "))
	}
	return strings.ToValidUTF8(b.String(), "\uFFFD")
}

// leReader reads little-endian values from b; the first short read sets
// err and every later read returns zeros.
type leReader struct {
	b   []byte
	err error
}

func (r *leReader) bytes(n int) []byte {
	if r.err != nil || n < 0 || n > len(r.b) {
		if r.err == nil {
			r.err = fmt.Errorf("the file ends early (%d bytes wanted, %d left)", n, len(r.b))
		}
		return nil
	}
	out := r.b[:n]
	r.b = r.b[n:]
	return out
}

func (r *leReader) u32() uint32 {
	if b := r.bytes(4); b != nil {
		return binary.LittleEndian.Uint32(b)
	}
	return 0
}

func (r *leReader) u64() uint64 {
	if b := r.bytes(8); b != nil {
		return binary.LittleEndian.Uint64(b)
	}
	return 0
}

func (r *leReader) str() string {
	n := r.u64()
	if n > math.MaxInt32 {
		r.bytes(-1)
		return ""
	}
	return string(r.bytes(int(n)))
}

// skipValue skips one metadata value of type typ; depth bounds nesting.
func (r *leReader) skipValue(typ uint32, depth int) {
	switch {
	case r.err != nil:
	case typ == ggufString:
		r.str()
	case typ == ggufArray && depth == 0:
		et, n := r.u32(), r.u64()
		if size, ok := ggufSizes[et]; ok {
			if n > uint64(len(r.b))/uint64(size) {
				r.bytes(-1)
				return
			}
			r.bytes(int(n) * size)
			return
		}
		for i := uint64(0); i < n && r.err == nil; i++ {
			r.skipValue(et, depth+1)
		}
	default:
		size, ok := ggufSizes[typ]
		if !ok {
			r.err = fmt.Errorf("GGUF metadata value of unknown type %d", typ)
			return
		}
		r.bytes(size)
	}
}
