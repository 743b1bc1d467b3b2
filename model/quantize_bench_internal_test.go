package model

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
)

// BenchmarkConvertWorkers measures the conversion pipeline alone (read,
// decode, encode, error report; output discarded, so no write or fsync)
// on 4 MiB of F32 matrices, single-threaded (workers=1) and on every CPU
// (workers=N), in one process. workers=split is the control: the same
// conversions on every CPU, split into equal contiguous halves ahead of
// time, with no pipeline, no order and no emit — what this machine's
// cores give for this work, so that N can be read against it rather
// than against an ideal the machine does not have. On a shared machine,
// interleave the runs (the README's Performance section has the loop),
// then compare with
//
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
		b.Run(fmt.Sprintf("type=%s/workers=split", typ), func(b *testing.B) {
			b.SetBytes(4 << 20)
			q := &quantizer{ctx: context.Background(), src: src, plan: plan}
			type span struct {
				p      *planned
				off, n int64
			}
			var spans []span
			q.chunks(0, func(p *planned, off, n int64, _ bool) bool {
				spans = append(spans, span{p, off, n})
				return true
			})
			for b.Loop() {
				var wg sync.WaitGroup
				for i := range n {
					part := spans[i*len(spans)/n : (i+1)*len(spans)/n]
					wg.Go(func() {
						c := &chunk{}
						for _, sp := range part {
							c.p, c.off, c.n = sp.p, sp.off, sp.n
							if err := c.convert(src); err != nil {
								b.Error(err)
								return
							}
						}
					})
				}
				wg.Wait()
			}
		})
	}
}
