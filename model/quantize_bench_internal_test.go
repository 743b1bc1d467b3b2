package model

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"testing"
)

// BenchmarkConvertWorkers measures the conversion pipeline alone (read,
// decode, encode, error report; output discarded, so no write or fsync)
// on 4 MiB of F32 matrices, single-threaded (workers=1) and on every CPU
// (workers=N), in one process. Compare with
//
//	go test -run '^$' -bench ConvertWorkers -count 6 ./model/ > c.txt
//	go run golang.org/x/perf/cmd/benchstat@v0.0.0-20260908200009-22c9c6c9d4da -col /workers c.txt
func BenchmarkConvertWorkers(b *testing.B) {
	x := buildInput(1 << 20)
	var tensors []GGUFTensor
	for i := range 8 {
		tensors = append(tensors, GGUFTensor{Name: fmt.Sprintf("blk.%d.ffn_up.weight", i), Type: TypeF32, Shape: []int64{1024, 128}})
	}
	path := filepath.Join(b.TempDir(), "in.gguf")
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	gw, err := NewGGUFWriter(f, []MetaKV{{Key: "general.architecture", Value: "llama"}}, tensors)
	if err != nil {
		b.Fatal(err)
	}
	data, _ := EncodeRow(nil, x, TypeF32)
	if _, err := gw.Write(data); err != nil {
		b.Fatal(err)
	}
	if err := gw.Close(); err != nil {
		b.Fatal(err)
	}
	f.Close()
	info, err := Analyze(path)
	if err != nil {
		b.Fatal(err)
	}
	src, err := os.Open(path)
	if err != nil {
		b.Fatal(err)
	}
	defer src.Close()
	n := runtime.GOMAXPROCS(0)
	for _, typ := range []Type{TypeF16, TypeQ8_0, TypeQ4_0, TypeQ4_1, TypeQ5_0, TypeQ5_1, TypeQ2_K, TypeQ4_K} {
		opts := QuantizeOptions{Type: typ, Keep: DefaultKeep}
		plan, err := planQuantize(info, &opts)
		if err != nil {
			b.Fatal(err)
		}
		for _, w := range []int{1, n} {
			name := fmt.Sprintf("type=%s/workers=%d", typ, w)
			if w == n {
				name = fmt.Sprintf("type=%s/workers=N", typ)
			}
			b.Run(name, func(b *testing.B) {
				b.SetBytes(4 << 20)
				for b.Loop() {
					q := &quantizer{ctx: context.Background(), src: src, plan: plan, workers: w}
					if err := q.run(0, io.Discard.Write); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}
