// Package firmware is the tinyprof wire protocol between a host and a
// board's firmware: the reference implementation of firmware/PROTOCOL.md.
//
// A frame is a message type, a sequence number, a payload and a CRC-32,
// COBS-encoded between 0x00 delimiters, so the same UART can carry the boot
// ROM's text and the firmware's printf output. AppendFrame encodes one; a
// Decoder turns the byte stream back into Events — frames, text lines and
// bad blocks — whatever the stream's chunking. Each message (Hello, Info,
// Generate, Tokens, Metrics, …) is a Go type with its Type, AppendPayload
// and UnmarshalPayload; enum-like fields are typed (Capabilities, Region,
// StopReason, LogLevel) and print their names.
//
// Everything that speaks the protocol is checked against this package: the
// host client (device), the simulated board (device/sim), the portable C
// agent (firmware/agent, with its golden vectors in testdata/golden.txt) and
// the conformance suite every board must pass (firmware/conformance).
// firmware/flash writes firmware images to boards; it does not speak the
// protocol.
//
// The package is a leaf of tinyprof's dependency graph: it imports only the
// standard library.
package firmware
