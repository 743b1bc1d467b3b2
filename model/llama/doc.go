// Package llama is the reference forward pass of tinyprof's inference
// runtime: the llama architecture (RMSNorm, rotary position embedding,
// multi-head and grouped-query attention over a KV cache, a SwiGLU
// feed-forward network, a shared or separate classifier) and its
// sampler, computed exactly as the C runtime in firmware/runtime computes
// them, so that a host build, a Cortex-M build and this package produce
// the same logits bit for bit and therefore the same tokens.
//
// Load reads llama2.c checkpoints (legacy, version 1 float32, version 2
// int8 groups) and GGUF llama models with F32, Q8_0, Q4_0 and tinyprof's
// group-wise tensors (model/GROUPWISE.md) through the readers in package
// model, and keeps the file's bytes: quantized weights are expanded one
// value at a time as the forward pass uses them, as on the device.
//
//	m, err := llama.Open("stories260K.bin")
//	toks, err := m.Generate(ctx, []byte("Once"), llama.Options{MaxTokens: 32})
//
// Compare measures a quantized model against its source on a text,
// teacher-forced: next-token agreement and perplexity, the quality report
// of tiny-profiler quantize.
//
// # Determinism
//
// Every sum runs in index order with one float32 rounding per operation;
// products are converted to float32 explicitly so the compiler cannot fuse
// them into multiply-adds. exp, log, sqrt, sin and cos are the runtime's
// own (math.go), not package math, so no library's rounding enters. The
// prompt rule (PromptTokens) and the sampler (Sampler, RNG) are specified
// in their doc comments and in firmware/runtime/README.md.
package llama
