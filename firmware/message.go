package firmware

import (
	"fmt"
)

// ProtocolVersion is the version of the message set this package speaks.
// The frame layout never changes; a new version may append fields to a
// message, and decoders ignore bytes after the fields they know.
const ProtocolVersion = 1

// Type identifies a message. Host requests are 0x01–0x0B and device
// messages 0x81–0x8A: none is a printable character or a UTF-8 lead byte,
// which is what lets a decoder tell frames from console text.
type Type uint8

// Host → device.
const (
	TypeHello      Type = 0x01
	TypePing       Type = 0x02
	TypeReset      Type = 0x03
	TypeModelBegin Type = 0x04
	TypeModelChunk Type = 0x05
	TypeModelEnd   Type = 0x06
	TypeGenerate   Type = 0x07
	TypeGetMetrics Type = 0x08
	TypeCancel     Type = 0x0B
)

// Device → host.
const (
	TypeInfo      Type = 0x81
	TypePong      Type = 0x82
	TypeResetAck  Type = 0x83
	TypeModelAck  Type = 0x84
	TypeModelDone Type = 0x85
	TypeTokens    Type = 0x86
	TypeGenDone   Type = 0x87
	TypeMetrics   Type = 0x88
	TypeLog       Type = 0x89
	TypeError     Type = 0x8A
)

var typeNames = map[Type]string{
	TypeHello: "HELLO", TypePing: "PING", TypeReset: "RESET", TypeModelBegin: "MODEL_BEGIN",
	TypeModelChunk: "MODEL_CHUNK", TypeModelEnd: "MODEL_END", TypeGenerate: "GENERATE",
	TypeGetMetrics: "GET_METRICS", TypeCancel: "CANCEL",
	TypeInfo: "INFO", TypePong: "PONG", TypeResetAck: "RESET_ACK", TypeModelAck: "MODEL_ACK",
	TypeModelDone: "MODEL_DONE", TypeTokens: "TOKENS", TypeGenDone: "GEN_DONE",
	TypeMetrics: "METRICS", TypeLog: "LOG", TypeError: "ERROR",
}

// known is typeNames as a table: Known runs once per received byte.
var known = func() (k [256]bool) {
	for t := range typeNames {
		k[t] = true
	}
	return k
}()

// Known reports whether t is a message type of this protocol version.
func (t Type) Known() bool { return known[t] }

func (t Type) String() string {
	if n, ok := typeNames[t]; ok {
		return n
	}
	return fmt.Sprintf("Type(0x%02x)", uint8(t))
}

// A Message is the typed payload of a frame.
type Message interface {
	// Type returns the message's frame type.
	Type() Type
	// AppendPayload appends the message's payload encoding to dst.
	AppendPayload(dst []byte) []byte
	// UnmarshalPayload decodes p into the message. It never retains p.
	UnmarshalPayload(p []byte) error
}

// Encode returns the wire bytes of m in a frame with sequence number seq.
func Encode(seq uint16, m Message) []byte {
	return AppendFrame(nil, Frame{Type: m.Type(), Seq: seq, Payload: m.AppendPayload(nil)})
}

// ErrUnknownType reports a frame whose type this version does not know.
type ErrUnknownType Type

func (e ErrUnknownType) Error() string {
	return fmt.Sprintf("unknown message type 0x%02x (protocol version %d); the peer may speak a newer protocol", uint8(e), ProtocolVersion)
}

// New returns an empty message of type t, or nil if t is unknown.
func New(t Type) Message {
	switch t {
	case TypeHello:
		return new(Hello)
	case TypePing:
		return new(Ping)
	case TypeReset:
		return new(Reset)
	case TypeModelBegin:
		return new(ModelBegin)
	case TypeModelChunk:
		return new(ModelChunk)
	case TypeModelEnd:
		return new(ModelEnd)
	case TypeGenerate:
		return new(Generate)
	case TypeGetMetrics:
		return new(GetMetrics)
	case TypeCancel:
		return new(Cancel)
	case TypeInfo:
		return new(Info)
	case TypePong:
		return new(Pong)
	case TypeResetAck:
		return new(ResetAck)
	case TypeModelAck:
		return new(ModelAck)
	case TypeModelDone:
		return new(ModelDone)
	case TypeTokens:
		return new(Tokens)
	case TypeGenDone:
		return new(GenDone)
	case TypeMetrics:
		return new(Metrics)
	case TypeLog:
		return new(Log)
	case TypeError:
		return new(Error)
	}
	return nil
}

// Decode returns the message carried by f.
func Decode(f Frame) (Message, error) {
	m := New(f.Type)
	if m == nil {
		return nil, ErrUnknownType(f.Type)
	}
	if err := m.UnmarshalPayload(f.Payload); err != nil {
		return nil, fmt.Errorf("decode %v: %w", f.Type, err)
	}
	return m, nil
}
