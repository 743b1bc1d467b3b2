package main

import (
	"bytes"
	"encoding/binary"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tinyprof/tinyprof/fixtures"
)

func TestGGUFVocab(t *testing.T) {
	var buf bytes.Buffer
	require.NoError(t, fixtures.WriteGGUF(&buf, fixtures.Stories260K, fixtures.GGUFOptions{}, fixtures.Seed))
	v, err := ggufVocab(buf.Bytes())
	require.NoError(t, err)
	require.Len(t, v, 512)
	assert.Equal(t, []string{"<unk>", "<s>", "</s>", "<0x00>"}, []string(v[:4]))
	// <0x48><0x69> are bytes; ▁ is a space; an id past the vocabulary is U+FFFD.
	assert.Equal(t, "Hi "+v[300][len("▁"):]+"\uFFFD", v.decode([]uint32{3 + 'H', 3 + 'i', 300, 9999}))

	// Every truncation is an error, never a panic or a huge allocation.
	data := buf.Bytes()
	for _, n := range []int{0, 3, 4, 8, 20, 24, 100, 1000} {
		_, err := ggufVocab(data[:n])
		assert.Error(t, err, "truncated at %d", n)
	}
}

func TestGGUFVocabHostile(t *testing.T) {
	header := func(kvs uint64) []byte {
		b := []byte("GGUF")
		b = binary.LittleEndian.AppendUint32(b, 3)
		b = binary.LittleEndian.AppendUint64(b, 0)
		return binary.LittleEndian.AppendUint64(b, kvs)
	}
	key := func(b []byte, k string, typ uint32) []byte {
		b = binary.LittleEndian.AppendUint64(b, uint64(len(k)))
		b = append(b, k...)
		return binary.LittleEndian.AppendUint32(b, typ)
	}
	huge := key(header(1), "tokenizer.ggml.tokens", ggufArray)
	huge = binary.LittleEndian.AppendUint32(huge, ggufString)
	huge = binary.LittleEndian.AppendUint64(huge, 1<<40)
	bigArray := key(header(2), "x", ggufArray)
	bigArray = binary.LittleEndian.AppendUint32(bigArray, 4)
	bigArray = binary.LittleEndian.AppendUint64(bigArray, 1<<62)
	nested := key(header(1), "x", ggufArray)
	nested = binary.LittleEndian.AppendUint32(nested, ggufArray)
	nested = binary.LittleEndian.AppendUint64(nested, 1)
	nested = binary.LittleEndian.AppendUint32(nested, ggufArray)
	for _, tc := range []struct {
		name string
		data []byte
		want string
	}{
		{"not gguf", []byte("GGML...."), "not a GGUF file"},
		{"version", append([]byte("GGUF"), 9, 0, 0, 0), "GGUF version 9"},
		{"no tokens", header(0), "no tokenizer.ggml.tokens"},
		{"huge vocabulary", huge, "claims 1099511627776 tokens"},
		{"huge array", bigArray, "the file ends early"},
		{"nested arrays", nested, "unknown type 9"},
		{"wrong type", key(header(1), "tokenizer.ggml.tokens", 4), "not an array of strings"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ggufVocab(tc.data)
			assert.ErrorContains(t, err, tc.want)
		})
	}
}

func TestLlama2CVocab(t *testing.T) {
	var b []byte
	b = binary.LittleEndian.AppendUint32(b, 5)
	for _, s := range []string{"<unk>", " once", " upon"} {
		b = binary.LittleEndian.AppendUint32(b, 0)
		b = binary.LittleEndian.AppendUint32(b, uint32(len(s)))
		b = append(b, s...)
	}
	path := filepath.Join(t.TempDir(), "tokenizer.bin")
	require.NoError(t, os.WriteFile(path, b, 0o644))
	v, err := llama2cVocab(path, 3)
	require.NoError(t, err)
	assert.Equal(t, " once upon", v.decode([]uint32{1, 2}))

	_, err = llama2cVocab(path, 4)
	assert.ErrorContains(t, err, "not the tokenizer of this model")
	_, err = llama2cVocab(filepath.Join(t.TempDir(), "none"), 3)
	assert.ErrorContains(t, err, "read the tokenizer")
}
