package firmware

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"strings"
	"unicode/utf8"
)

// Frame layout before COBS encoding (all integers little-endian):
//
//	type u8 | seq u16 | payload … | crc32 u32
//
// The CRC is CRC-32/ISO-HDLC (zlib's, hash/crc32.IEEE) over type, seq and
// payload. On the wire a frame is 0x00, its COBS encoding, 0x00: the leading
// delimiter cuts off any boot text or noise before it.
const (
	headerLen  = 3
	trailerLen = 4
	// MinFrameLen is the length of a frame with an empty payload.
	MinFrameLen = headerLen + trailerLen
	// DefaultMaxPayload is the payload limit both sides assume before
	// HELLO/INFO negotiates one.
	DefaultMaxPayload = 1024
	// MaxPayloadLimit is the largest payload any implementation may
	// negotiate. Decoders never buffer more than this.
	MaxPayloadLimit = 16 * 1024
	// maxTextLine bounds a line of device text outside frames.
	maxTextLine = 512
)

// Frame is one decoded protocol frame.
type Frame struct {
	Type    Type
	Seq     uint16
	Payload []byte
}

// AppendFrame appends the wire encoding of f (delimiters included) to dst.
func AppendFrame(dst []byte, f Frame) []byte {
	raw := make([]byte, 0, MinFrameLen+len(f.Payload))
	raw = append(raw, byte(f.Type))
	raw = binary.LittleEndian.AppendUint16(raw, f.Seq)
	raw = append(raw, f.Payload...)
	raw = binary.LittleEndian.AppendUint32(raw, crc32.ChecksumIEEE(raw))
	dst = append(dst, 0)
	dst = cobsEncode(dst, raw)
	return append(dst, 0)
}

// ErrCRC reports a frame whose checksum does not match its contents.
var ErrCRC = errors.New("frame checksum mismatch")

// ErrFrameTooLong reports a frame longer than the negotiated maximum.
var ErrFrameTooLong = errors.New("frame longer than the negotiated maximum")

// decodeFrame decodes one COBS block (without delimiters).
func decodeFrame(block []byte, maxPayload int) (Frame, error) {
	raw, err := cobsDecode(make([]byte, 0, len(block)), block)
	if err != nil {
		return Frame{}, err
	}
	if len(raw) < MinFrameLen {
		return Frame{}, fmt.Errorf("frame of %d bytes is shorter than the %d-byte minimum", len(raw), MinFrameLen)
	}
	if len(raw)-MinFrameLen > maxPayload {
		return Frame{}, ErrFrameTooLong
	}
	body, sum := raw[:len(raw)-trailerLen], binary.LittleEndian.Uint32(raw[len(raw)-trailerLen:])
	if crc32.ChecksumIEEE(body) != sum {
		return Frame{}, ErrCRC
	}
	return Frame{
		Type:    Type(body[0]),
		Seq:     binary.LittleEndian.Uint16(body[1:3]),
		Payload: body[headerLen:],
	}, nil
}

// EventKind says what a decoder found on the line.
type EventKind uint8

// The kinds of Event.
const (
	// EventFrame is a frame whose checksum matched.
	EventFrame EventKind = iota + 1
	// EventText is a line of text outside frames, such as an ESP32's ROM
	// boot messages or a firmware's printf.
	EventText
	// EventBad is a block of bytes that is neither a valid frame nor text:
	// a frame corrupted on the wire, cut short, or too long.
	EventBad
)

// Event is one thing a Decoder found on the line.
type Event struct {
	Kind  EventKind
	Frame Frame  // for EventFrame; the payload is a fresh slice the receiver may keep
	Text  string // for EventText, without its line ending
	Err   error  // for EventBad: why the block was rejected
	Len   int    // bytes of the line the event covers, delimiters excluded
}

// A Decoder splits a byte stream into frames, text lines and bad blocks. It
// resynchronises on the next 0x00 after any noise. Its memory is bounded by
// the maximum payload it was made with. A Decoder is not safe for
// concurrent use.
//
// No valid frame is text: a frame's second encoded byte is its type, and
// every type is a control character or a UTF-8 continuation byte. So a
// decoder can surface a text line as soon as its newline arrives, without
// waiting for the next delimiter.
type Decoder struct {
	maxPayload int
	maxBlock   int
	buf        []byte
	overflow   int // bytes dropped from the current over-long block
}

// NewDecoder returns a decoder that accepts payloads up to maxPayload bytes
// (clamped to [0, MaxPayloadLimit]).
func NewDecoder(maxPayload int) *Decoder {
	maxPayload = max(0, min(maxPayload, MaxPayloadLimit))
	mb := max(cobsMaxEncoded(maxPayload+MinFrameLen), maxTextLine)
	return &Decoder{maxPayload: maxPayload, maxBlock: mb, buf: make([]byte, 0, min(mb, 4096))}
}

// Feed decodes p, calling emit for every complete event in order. Bytes of
// an incomplete frame or line stay buffered for the next call.
func (d *Decoder) Feed(p []byte, emit func(Event)) {
	for _, b := range p {
		if b == 0 {
			d.endBlock(emit)
			continue
		}
		if d.overflow > 0 || len(d.buf) >= d.maxBlock {
			d.overflow++
			continue
		}
		d.buf = append(d.buf, b)
		// len >= 2: a lone first byte may be a COBS code byte that happens
		// to equal '\n'; the type byte after it settles the question.
		switch {
		case b == '\n' && len(d.buf) >= 2 && !Type(d.buf[1]).Known() && isText(d.buf):
			d.emitText(emit)
		case len(d.buf) == maxTextLine && !Type(d.buf[1]).Known():
			// A long line without a newline: emit it in pieces, cut on a
			// rune boundary, so it never grows into an "over-long frame".
			start := len(d.buf) - 1 // find where the last character begins
			for start > 0 && start > len(d.buf)-utf8.UTFMax && !utf8.RuneStart(d.buf[start]) {
				start--
			}
			cut := len(d.buf)
			if !utf8.FullRune(d.buf[start:]) {
				cut = start // keep an unfinished character for the next piece
			}
			if isText(d.buf[:cut]) {
				rest := append([]byte(nil), d.buf[cut:]...)
				d.buf = d.buf[:cut]
				d.emitText(emit)
				d.buf = append(d.buf, rest...)
			}
		}
	}
}

// FlushText emits buffered bytes as a text line if they are text. A caller
// that has seen the line go quiet uses it to surface a prompt or a line
// without a newline.
func (d *Decoder) FlushText(emit func(Event)) {
	if len(d.buf) > 0 && d.overflow == 0 && isText(d.buf) {
		d.emitText(emit)
	}
}

func (d *Decoder) emitText(emit func(Event)) {
	line := strings.Trim(string(d.buf), "\r\n")
	d.buf = d.buf[:0]
	if line != "" {
		emit(Event{Kind: EventText, Text: line})
	}
}

// endBlock handles a 0x00 delimiter.
func (d *Decoder) endBlock(emit func(Event)) {
	if d.overflow > 0 {
		n := len(d.buf) + d.overflow
		d.buf, d.overflow = d.buf[:0], 0
		emit(Event{Kind: EventBad, Err: ErrFrameTooLong, Len: n})
		return
	}
	if len(d.buf) == 0 {
		return // the opening delimiter of a frame, after a closing one
	}
	f, err := decodeFrame(d.buf, d.maxPayload)
	switch {
	case err == nil:
		f.Payload = append([]byte(nil), f.Payload...)
		n := len(d.buf)
		d.buf = d.buf[:0]
		emit(Event{Kind: EventFrame, Frame: f, Len: n})
	case isText(d.buf):
		d.emitText(emit) // text just before a frame's opening delimiter
	default:
		n := len(d.buf)
		d.buf = d.buf[:0]
		emit(Event{Kind: EventBad, Err: err, Len: n})
	}
}

// isText reports whether b looks like console text: valid UTF-8 with no
// control characters other than tab, CR, LF and ESC (for ANSI colours, as
// ESP-IDF's logger prints). Frame types are chosen so that no frame passes.
func isText(b []byte) bool {
	if !utf8.Valid(b) {
		return false
	}
	for _, c := range b {
		if c < 0x20 && c != '\t' && c != '\r' && c != '\n' && c != 0x1B || c == 0x7F {
			return false
		}
	}
	return true
}
