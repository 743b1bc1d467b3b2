package llama_test

import (
	"bytes"
	"context"
	"fmt"

	"github.com/tinyprof/tinyprof/fixtures"
	"github.com/tinyprof/tinyprof/model"
	"github.com/tinyprof/tinyprof/model/llama"
)

// Example loads the built-in stories260K-shaped fixture (random weights,
// so the text is noise) and generates with the same settings a GENERATE
// request carries; a board running the C runtime returns the same ids.
func Example() {
	file := fixtures.Llama2C(fixtures.Stories260K, fixtures.Seed)
	m, err := llama.Load(bytes.NewReader(file), int64(len(file)))
	if err != nil {
		fmt.Println(err)
		return
	}
	c := m.Config()
	fmt.Printf("dim %d, %d layers, %d heads (%d kv), vocab %d, %d parameters\n", c.Dim, c.Layers, c.Heads, c.KVHeads, c.Vocab, m.Parameters())
	fmt.Println("prompt tokens:", llama.PromptTokens([]byte("Hi"), c.Vocab))
	toks, err := m.Generate(context.Background(), []byte("Hi"), llama.Options{
		MaxTokens: 8, Temperature: 0.8, TopP: 0.9, Seed: 42,
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("generated:", toks)
	// Output:
	// dim 64, 5 layers, 8 heads (4 kv), vocab 512, 260032 parameters
	// prompt tokens: [1 72 105]
	// generated: [494 80 387 105 27 433 439 25]
}

// ExampleCompare measures a 2-bit group-wise quantization of the Tiny
// fixture against its float32 source, as tiny-profiler quantize reports
// it.
func ExampleCompare() {
	open := func(file []byte) *llama.Model {
		m, err := llama.Load(bytes.NewReader(file), int64(len(file)))
		if err != nil {
			panic(err)
		}
		return m
	}
	typ, err := model.GroupwiseType(model.Groupwise{Bits: 2, Group: 32})
	if err != nil {
		fmt.Println(err)
		return
	}
	var f32, g2 bytes.Buffer
	if err := fixtures.WriteGGUF(&f32, fixtures.Tiny, fixtures.GGUFOptions{}, fixtures.Seed); err != nil {
		fmt.Println(err)
		return
	}
	if err := fixtures.WriteGGUF(&g2, fixtures.Tiny, fixtures.GGUFOptions{Type: typ}, fixtures.Seed); err != nil {
		fmt.Println(err)
		return
	}
	// The first 160 bytes of the text the CLI uses, to keep the example quick.
	q, err := llama.Compare(context.Background(), open(f32.Bytes()), open(g2.Bytes()), []byte(fixtures.QualityText[:160]))
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("%d positions: agreement %.1f%%, perplexity %.1f (f32 %.1f)\n", q.Positions, 100*q.Agreement, q.Perplexity, q.ReferencePerplexity)
	// Output:
	// 160 positions: agreement 97.5%, perplexity 125.1 (f32 126.7)
}
