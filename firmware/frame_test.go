package firmware

import (
	"bytes"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func feedAll(d *Decoder, chunks ...[]byte) []Event {
	var got []Event
	for _, c := range chunks {
		d.Feed(c, func(e Event) { got = append(got, e) })
	}
	return got
}

func TestCOBSRoundTrip(t *testing.T) {
	for _, n := range []int{0, 1, 253, 254, 255, 256, 508, 1000} {
		for _, fill := range []byte{0, 1, 0xFF} {
			src := bytes.Repeat([]byte{fill}, n)
			if n > 3 {
				src[n/2] = 0
			}
			enc := cobsEncode(nil, src)
			require.NotContains(t, enc, byte(0))
			require.LessOrEqual(t, len(enc), cobsMaxEncoded(n))
			dec, err := cobsDecode(nil, enc)
			require.NoError(t, err)
			require.Equal(t, len(src), len(dec), "n=%d fill=%d", n, fill)
			require.True(t, bytes.Equal(src, dec))
		}
	}
}

func TestDecoderSeparatesTextAndFrames(t *testing.T) {
	boot := []byte("ets Jun  8 2016 00:22:57\r\n\r\nrst:0x1 (POWERON_RESET),boot:0x13 (SPI_FAST_FLASH_BOOT)\r\n\x1b[0;32mI (31) boot: ESP-IDF v5.2\x1b[0m\r\n")
	ping := Encode(5, &Ping{Data: []byte("\n\x00abc\n")})
	info := Encode(0, &Info{ProtocolVersion: 1, Platform: "esp32s3"})
	stream := append(append(append(append([]byte{}, boot...), ping...), []byte("half a line")...), info...)

	for name, split := range map[string]int{"whole": len(stream), "one byte at a time": 1, "seven": 7} {
		t.Run(name, func(t *testing.T) {
			d := NewDecoder(DefaultMaxPayload)
			var got []Event
			for i := 0; i < len(stream); i += split {
				d.Feed(stream[i:min(i+split, len(stream))], func(e Event) { got = append(got, e) })
			}
			var kinds []string
			for _, e := range got {
				switch e.Kind {
				case EventText:
					kinds = append(kinds, "text:"+e.Text)
				case EventFrame:
					kinds = append(kinds, "frame:"+e.Frame.Type.String())
				case EventBad:
					kinds = append(kinds, "bad:"+e.Err.Error())
				}
			}
			want := []string{
				"text:ets Jun  8 2016 00:22:57",
				"text:rst:0x1 (POWERON_RESET),boot:0x13 (SPI_FAST_FLASH_BOOT)",
				"text:\x1b[0;32mI (31) boot: ESP-IDF v5.2\x1b[0m",
				"frame:PING",
				"text:half a line",
				"frame:INFO",
			}
			if diff := cmp.Diff(want, kinds); diff != "" {
				t.Fatalf("events (-want +got):\n%s", diff)
			}
		})
	}
}

func TestDecoderResynchronisesAfterCorruption(t *testing.T) {
	good := Encode(1, &Ping{Data: []byte("hello")})
	bad := Encode(2, &Ping{Data: []byte("world")})
	bad[len(bad)/2] ^= 0x40 // flip a bit in the middle
	cut := Encode(3, &Ping{Data: []byte("cut")})
	cut = cut[:len(cut)-3] // lose the tail and the closing delimiter

	got := feedAll(NewDecoder(DefaultMaxPayload), cut, bad, []byte{0xFE, 0x81, 0x02}, good)
	var frames, bads int
	for _, e := range got {
		switch e.Kind {
		case EventFrame:
			frames++
			assert.Equal(t, uint16(1), e.Frame.Seq)
		case EventBad:
			bads++
		}
	}
	assert.Equal(t, 1, frames, "the good frame survives: %+v", got)
	assert.GreaterOrEqual(t, bads, 2, "the damaged frames are reported: %+v", got)
}

func TestDecoderRejectsOversizedWithoutBuffering(t *testing.T) {
	d := NewDecoder(64)
	big := AppendFrame(nil, Frame{Type: TypePing, Seq: 1, Payload: bytes.Repeat([]byte{1}, 10_000)})
	got := feedAll(d, big, Encode(2, &Ping{}))
	require.NotEmpty(t, got)
	assert.Equal(t, EventBad, got[0].Kind)
	assert.ErrorIs(t, got[0].Err, ErrFrameTooLong)
	assert.LessOrEqual(t, cap(d.buf), 4096, "decoder buffer stays bounded")
	assert.Equal(t, EventFrame, got[len(got)-1].Kind, "the next frame decodes")
}

func TestDecodeUnknownType(t *testing.T) {
	_, err := Decode(Frame{Type: 0x7E})
	var ut ErrUnknownType
	require.ErrorAs(t, err, &ut)
	assert.Contains(t, err.Error(), "newer protocol")
}

func TestShortPayloads(t *testing.T) {
	// Messages that end in a variable-length field accept any prefix that
	// holds their fixed fields; FuzzMessages covers them.
	open := map[string]bool{"ping": true, "ping_empty": true, "pong": true, "model_chunk": true,
		"tokens": true, "tokens_empty": true, "info": true, "info_boot": true}
	for _, g := range goldenMessages() {
		if open[g.name] {
			continue
		}
		full := g.msg.AppendPayload(nil)
		for n := 0; n < len(full); n++ {
			err := New(g.msg.Type()).UnmarshalPayload(full[:n])
			assert.Error(t, err, "%s: a %d-byte prefix of %d bytes decoded", g.name, n, len(full))
		}
	}
}

func FuzzDecoder(f *testing.F) {
	for _, g := range goldenMessages() {
		f.Add(Encode(g.seq, g.msg))
	}
	f.Add([]byte("ets Jun  8 2016\r\n\x00\x00garbage\xff\xfe\x00"))
	f.Fuzz(func(t *testing.T, data []byte) {
		d := NewDecoder(256)
		d.Feed(data, func(e Event) {
			if e.Kind == EventFrame {
				if len(e.Frame.Payload) > 256 {
					t.Fatalf("payload of %d bytes beyond the 256 limit", len(e.Frame.Payload))
				}
				_, _ = Decode(e.Frame)
			}
		})
		d.FlushText(func(Event) {})
		if len(d.buf) > d.maxBlock {
			t.Fatalf("buffered %d bytes, limit %d", len(d.buf), d.maxBlock)
		}
	})
}

// FuzzMessages decodes arbitrary payloads as every message type; what
// decodes must re-encode to a payload that decodes to the same message.
func FuzzMessages(f *testing.F) {
	for _, g := range goldenMessages() {
		f.Add(uint8(g.msg.Type()), g.msg.AppendPayload(nil))
	}
	f.Fuzz(func(t *testing.T, typ uint8, payload []byte) {
		m := New(Type(typ))
		if m == nil {
			return
		}
		if err := m.UnmarshalPayload(payload); err != nil {
			return
		}
		if info, ok := m.(*Info); ok && info.ProtocolVersion != ProtocolVersion {
			return
		}
		again := New(Type(typ))
		require.NoError(t, again.UnmarshalPayload(m.AppendPayload(nil)))
		if diff := cmp.Diff(normalize(m), normalize(again)); diff != "" {
			t.Fatalf("round trip of %v (-first +second):\n%s", Type(typ), diff)
		}
	})
}

// TestLongTextLinesArriveInPieces: a board printing a long line without a
// newline (a progress bar, a hex dump) must not have it swallowed as an
// over-long frame, even when the cut falls inside a multi-byte character.
func TestLongTextLinesArriveInPieces(t *testing.T) {
	line := strings.Repeat("é", 800) // 1600 bytes, past the longest frame; two bytes a character, so with the prefix a cut at 512 splits one
	for _, prefix := range []string{"", "x"} {
		got := feedAll(NewDecoder(DefaultMaxPayload), []byte(prefix+line), Encode(1, &Ping{}))
		var text strings.Builder
		frames := 0
		for _, e := range got {
			switch e.Kind {
			case EventText:
				text.WriteString(e.Text)
			case EventFrame:
				frames++
			case EventBad:
				t.Fatalf("prefix %q: text reported as a bad block: %v", prefix, e.Err)
			}
		}
		assert.Equal(t, prefix+line, text.String(), "prefix %q: every character arrives", prefix)
		assert.Equal(t, 1, frames)
	}
}
