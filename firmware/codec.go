package firmware

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// ErrShortPayload reports a payload that ends before a field it must hold.
var ErrShortPayload = errors.New("payload ends before a required field")

// writer appends little-endian fields to a payload.
type writer struct{ b []byte }

func (w *writer) u8(v uint8)   { w.b = append(w.b, v) }
func (w *writer) u16(v uint16) { w.b = binary.LittleEndian.AppendUint16(w.b, v) }
func (w *writer) u32(v uint32) { w.b = binary.LittleEndian.AppendUint32(w.b, v) }
func (w *writer) u64(v uint64) { w.b = binary.LittleEndian.AppendUint64(w.b, v) }
func (w *writer) uvarint(v uint64) {
	w.b = binary.AppendUvarint(w.b, v)
}
func (w *writer) bytes(v []byte) { w.b = append(w.b, v...) }

// str writes a string as a u8 length and its bytes, cut to 255 bytes.
func (w *writer) str(s string) {
	if len(s) > 255 {
		s = s[:255]
	}
	w.u8(uint8(len(s)))
	w.b = append(w.b, s...)
}

// reader consumes little-endian fields from a payload. The first error
// sticks; later reads return zero values, so a decoder checks err once.
type reader struct {
	b   []byte
	err error
}

func (r *reader) need(n int) []byte {
	if r.err != nil {
		return nil
	}
	if len(r.b) < n {
		r.err = ErrShortPayload
		return nil
	}
	v := r.b[:n]
	r.b = r.b[n:]
	return v
}

func (r *reader) u8() uint8 {
	if v := r.need(1); v != nil {
		return v[0]
	}
	return 0
}

func (r *reader) u16() uint16 {
	if v := r.need(2); v != nil {
		return binary.LittleEndian.Uint16(v)
	}
	return 0
}

func (r *reader) u32() uint32 {
	if v := r.need(4); v != nil {
		return binary.LittleEndian.Uint32(v)
	}
	return 0
}

func (r *reader) u64() uint64 {
	if v := r.need(8); v != nil {
		return binary.LittleEndian.Uint64(v)
	}
	return 0
}

func (r *reader) uvarint() uint64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.err = fmt.Errorf("bad varint in payload")
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *reader) str() string {
	n := r.u8()
	return string(r.need(int(n)))
}

// rest returns the remaining bytes, copied.
func (r *reader) rest() []byte {
	if r.err != nil {
		return nil
	}
	v := append([]byte(nil), r.b...)
	r.b = nil
	return v
}
