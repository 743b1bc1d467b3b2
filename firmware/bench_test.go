package firmware

import (
	"bytes"
	"fmt"
	"testing"
)

// BenchmarkFrameEncodeDecode measures one frame's trip through the encoder
// and the streaming decoder, per payload size.
func BenchmarkFrameEncodeDecode(b *testing.B) {
	for _, n := range []int{16, 256, 1024} {
		b.Run(fmt.Sprintf("payload=%d", n), func(b *testing.B) {
			payload := bytes.Repeat([]byte{0, 1, 2, 3, 0xFF}, n/5+1)[:n]
			d := NewDecoder(MaxPayloadLimit)
			var buf []byte
			frames := 0
			emit := func(e Event) {
				if e.Kind == EventFrame {
					frames++
				}
			}
			b.SetBytes(int64(n))
			b.ReportAllocs()
			for b.Loop() {
				buf = AppendFrame(buf[:0], Frame{Type: TypePing, Seq: 1, Payload: payload})
				d.Feed(buf, emit)
			}
			if frames == 0 {
				b.Fatal("no frame decoded")
			}
		})
	}
}

// BenchmarkTokensDecode measures decoding a batch of 16 tokens, per token.
func BenchmarkTokensDecode(b *testing.B) {
	var toks []Token
	for i := range 16 {
		toks = append(toks, Token{ID: uint32(i * 31 % 512), TimeUS: 1_000_000 + uint64(i)*52_631})
	}
	wire := Encode(7, &Tokens{Index: 0, Tokens: toks})
	d := NewDecoder(MaxPayloadLimit)
	var m Tokens
	for b.Loop() {
		d.Feed(wire, func(e Event) {
			if e.Kind == EventFrame {
				_ = m.UnmarshalPayload(e.Frame.Payload)
			}
		})
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/16, "ns/token")
	b.ReportMetric(float64(len(wire))/16, "wire-B/token")
}
