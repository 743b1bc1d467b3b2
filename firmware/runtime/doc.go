// Package runtime holds the tests of the C inference runtime in this
// directory (tp_rt*.c, tp_runtime_port.c): they build its host driver with
// the system C compiler and check, for every fixture model and format, that
// it produces exactly the tokens and logits of the Go reference in
// model/llama; that malformed files are refused without a crash; and that
// it cross-compiles for a Cortex-M4 within its size budget. See README.md.
package runtime
