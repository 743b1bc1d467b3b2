package model_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/tinyprof/tinyprof/fixtures"
	"github.com/tinyprof/tinyprof/model"
	"github.com/tinyprof/tinyprof/platform"
)

func ExampleAnalyzeReader() {
	b := fixtures.Llama2C(fixtures.Stories260K, fixtures.Seed)
	info, err := model.AnalyzeReader(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(info.Format, info.Version, info.Layers, info.Embedding, info.Heads, info.KVHeads, info.Context)
	fmt.Println(info.Parameters, "parameters,", info.WeightBytes, "weight bytes")
	fmt.Println(info.KVCacheBytes(info.Context, 4), "bytes of float32 KV cache")
	// Output:
	// llama2c 0 5 64 8 4 512
	// 260032 parameters, 1040128 weight bytes
	// 655360 bytes of float32 KV cache
}

func ExampleFit() {
	b := fixtures.Llama2C(fixtures.Stories260K, fixtures.Seed)
	info, _ := model.AnalyzeReader(bytes.NewReader(b), int64(len(b)))
	p, _ := platform.Lookup("esp32s3")

	f, err := model.Fit(info, p, model.FitConfig{})
	fmt.Println(f.Verdict, err)
	for _, it := range f.Items {
		fmt.Printf("%-15s %7d B in %s\n", it.Name, it.Bytes, it.Region)
	}

	_, err = model.Fit(info, p, model.FitConfig{KVCache: platform.SRAM})
	var fe *model.FitError
	fmt.Println(errors.As(err, &fe), fe.Region, err)
	// Output:
	// fits <nil>
	// activations       11184 B in sram
	// KV cache         655360 B in psram
	// file header          28 B in psram
	// token embedding  131072 B in psram
	// layer 0          181760 B in psram
	// layer 1          181760 B in psram
	// layer 2          181760 B in psram
	// layer 3          181760 B in psram
	// layer 4          181760 B in psram
	// classifier          256 B in psram
	// other tensors     16384 B in psram
	// true sram KV cache (640 KiB) does not fit: 413.0 KiB free in SRAM, 227.0 KiB short; cheapest fix: let the buffers go where they fit (drop their pins) (or cut the context to 320 (--ctx 320))
}

func ExampleQuantize() {
	dir, _ := os.MkdirTemp("", "example")
	defer os.RemoveAll(dir)
	in := filepath.Join(dir, "stories260k.bin")
	os.WriteFile(in, fixtures.Llama2C(fixtures.Stories260K, fixtures.Seed), 0o644)

	out := filepath.Join(dir, "stories260k-q8_0.gguf")
	rep, err := model.Quantize(context.Background(), in, out, model.QuantizeOptions{Type: model.TypeQ8_0}, nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(rep.BytesBefore, "→", rep.BytesAfter, "bytes")
	for _, tq := range rep.Tensors[:3] {
		line := fmt.Sprintf("%s %s→%s rel %.4f", tq.Name, tq.From, tq.To, tq.Relative)
		if tq.Kept != "" {
			line += " (" + tq.Kept + ")"
		}
		fmt.Println(line)
	}
	// Output:
	// 1040128 → 329952 bytes
	// token_embd.weight F32→Q8_0 rel 0.0043
	// blk.0.attn_norm.weight F32→F32 rel 0.0000 (kept in source precision)
	// blk.1.attn_norm.weight F32→F32 rel 0.0000 (kept in source precision)
}

// ExampleGroupwiseType encodes one group of 32 weights at 2 bits,
// symmetric: a float16 scale, then the codes four to a byte from the low
// bits (model/GROUPWISE.md).
func ExampleGroupwiseType() {
	typ, err := model.GroupwiseType(model.Groupwise{Bits: 2, Group: 32})
	if err != nil {
		fmt.Println(err)
		return
	}
	w := make([]float32, 32)
	copy(w, []float32{-1, 0.5, 0.24, 0.26})
	b, _ := model.EncodeRow(nil, w, typ)
	back, _ := model.DecodeRow(nil, b, typ)
	fmt.Printf("%s: id %#x, %d bytes per %d weights\n", typ, uint32(typ), typ.BlockBytes(), typ.BlockSize())
	fmt.Printf("bytes % x\n", b[:4])
	fmt.Println("decoded", back[:4])
	// Output:
	// G2S32: id 0x47570205, 10 bytes per 32 weights
	// bytes 00 38 ec aa
	// decoded [-1 0.5 0 0.5]
}
