// Package model answers "what does this model need, and where does it
// fit?" from the model file, before anything is flashed.
//
// # Analysis
//
// Analyze reads GGUF v2/v3 files (every ggml tensor type, K-quants and IQ
// types included) and llama2.c checkpoints (legacy header + float32, and
// export versions 1 and 2) from their headers, metadata and tensor infos
// only:
//
//	info, err := model.Analyze("stories260K.bin")
//	fmt.Println(info.Parameters, info.WeightBytes, info.KVCacheBytes(info.Context, 4))
//
// AnalyzeReader does the same for bytes in memory (the simulated board
// uses it on uploads) and is safe on untrusted input: absurd counts, sizes
// and arithmetic overflow are errors wrapping ErrFormat, unknown type ids
// errors wrapping ErrUnknownType, in memory and time bounded by the input
// size. The checks are those of ggml's own reader (gguf.cpp), so a file
// Analyze accepts is one ggml accepts.
//
// # Memory fit
//
// Fit is the one placement model: it places each tensor group (token
// embedding, each layer, classifier) as stored in the model file, the KV
// cache, the activations and the tokenizer in a platform's regions, after
// the firmware's own reservation (platform.FirmwareReserve), and reports
// the breakdown, a verdict and the largest context that fits. The
// analyze-model command, the simulated board and the benchmark's
// pre-flight check all call it. A model that does not fit is a *FitError
// naming the item, the shortfall and the cheapest changes that make it
// fit, each checked by placing the model again:
//
//	KV cache (640 KiB) does not fit: 482.0 KiB free in SRAM, 158.0 KiB short; cheapest fix: cut the context to 384 (--ctx 384)
//
// FitConfig's zero value is the model's full context, tinyprof's runtime
// (its arena, a float32 KV cache, no tokenizer on the device), automatic
// placement and the platform's firmware reservation; RuntimeLlama2C counts
// llama2.c's buffers instead.
//
// # Quantization
//
// Quantize streams a model to GGUF Q8_0, Q4_0, Q4_1, Q5_0 or Q5_1 —
// bit-exact with ggml's quantize_row_*_ref — or Q2_K and Q4_K (ports of
// the K-quant reference quantizers), with metadata and alignment kept; or
// to llama2.c's int8 group-quantized export. Inputs may already be
// quantized: every type DecodeRow reads is decoded and re-encoded, others
// are copied. A tensor whose rows do not fit the asked block falls back
// per tensor (FallbackType). It reports RMSE, maximum and relative error
// per tensor and the sizes before and after, and converts chunks on every
// CPU with the output independent of the worker count. EncodeRow and
// DecodeRow expose the block codecs.
//
// Besides ggml's types, Quantize writes tinyprof's group-wise integer
// formats (GroupwiseType: 8, 4 or 2 bits, groups of 32 to 256, symmetric
// or with a minimum), the runbook's "2 bits, group size 64", in GGUF files
// under type ids outside ggml's range; GROUPWISE.md specifies the bytes.
// model/llama and firmware/runtime run them.
//
// Bit-exactness holds against ggml built without floating-point
// contraction (the portable build), on every Go build: each product that
// meets an addition is rounded explicitly, so neither arm64 nor
// GOAMD64=v3 fuses it (TestEncodeRowSameOnEveryBuild). A ggml built with
// -march=native on a CPU with FMA fuses multiply-adds in the K-quant
// search, so its Q2_K and Q4_K bytes can differ from ours (their error is
// equivalent); the other types are unaffected.
package model
