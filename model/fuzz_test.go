package model_test

import (
	"bytes"
	"errors"
	"testing"

	"github.com/tinyprof/tinyprof/fixtures"
	"github.com/tinyprof/tinyprof/model"
)

// tinyLlama2C is a valid llama2.c model small enough to mutate quickly.
var tinyLlama2C = fixtures.Llama2CConfig{
	Llama2CConfig: model.Llama2CConfig{Dim: 8, HiddenDim: 16, Layers: 1, Heads: 2, KVHeads: 1, Vocab: 4, SeqLen: 4, Shared: true},
	GroupSize:     8,
}

// FuzzAnalyzeReader feeds arbitrary bytes to the GGUF and llama2.c
// readers: they must return an error wrapping ErrFormat or ErrUnknownType,
// or an Info whose tensors lie inside the file — never panic or hang.
// The committed corpus is in testdata/fuzz/FuzzAnalyzeReader.
func FuzzAnalyzeReader(f *testing.F) {
	for v := range 3 {
		var b bytes.Buffer
		if err := fixtures.WriteLlama2C(&b, tinyLlama2C, v, 1); err != nil {
			f.Fatal(err)
		}
		f.Add(b.Bytes())
	}
	f.Add(tensorGGUF(2, 32, 2))
	f.Add(tensorGGUF(uint32(model.GroupwiseTag)|2<<8|6, 64, 2)) // G2S64
	f.Add(newGGUF(0, 1).str("general.alignment").u32(4).u32(64).Bytes())
	f.Add(newGGUF(0, 1).str("k").u32(9).u32(8).u64(2).str("a").str("bc").Bytes())
	f.Fuzz(func(t *testing.T, data []byte) {
		info, err := model.AnalyzeReader(bytes.NewReader(data), int64(len(data)))
		if err != nil {
			if !errors.Is(err, model.ErrFormat) && !errors.Is(err, model.ErrUnknownType) {
				t.Fatalf("error wraps neither ErrFormat nor ErrUnknownType: %v", err)
			}
			return
		}
		for _, tn := range info.Tensors {
			if tn.Offset < 0 || tn.Bytes < 0 || tn.Offset+tn.Bytes > int64(len(data)) {
				t.Fatalf("tensor %q [%d, +%d) outside the %d-byte file", tn.Name, tn.Offset, tn.Bytes, len(data))
			}
		}
		_ = info.KVCacheBytes(info.Context, 4)
	})
}
