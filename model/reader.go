package model

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
)

// ErrFormat reports a file that is not a well-formed model file: wrong
// magic, truncated, or with counts and sizes that cannot be right. Errors
// returned by Analyze wrap it, so callers can test with errors.Is.
var ErrFormat = errors.New("malformed model file")

// byteReader reads little-endian values from an io.ReaderAt through a small
// window, so that walking millions of short metadata strings costs memory
// copies rather than system calls. Lengths are checked against the bytes
// left in the file before anything is allocated or skipped, which bounds
// memory and time by the real file size whatever the file claims.
type byteReader struct {
	r    io.ReaderAt
	size int64
	pos  int64

	buf    []byte
	bufOff int64 // file offset of buf[0]
}

const readWindow = 64 << 10

func newByteReader(r io.ReaderAt, size int64) *byteReader {
	return &byteReader{r: r, size: size, buf: make([]byte, 0, readWindow)}
}

func (b *byteReader) remaining() int64 { return b.size - b.pos }

// errTruncated builds the error for a read of n bytes of what past the end.
func (b *byteReader) errTruncated(what string, n int64) error {
	return fmt.Errorf("%w: truncated at byte %d reading %s (%d bytes needed, %d left in the %d-byte file); the file is incomplete, download or copy it again",
		ErrFormat, b.pos, what, n, b.remaining(), b.size)
}

// peek returns the next n bytes (n ≤ readWindow) without advancing.
func (b *byteReader) peek(n int, what string) ([]byte, error) {
	if int64(n) > b.remaining() {
		return nil, b.errTruncated(what, int64(n))
	}
	start := b.pos - b.bufOff
	if b.pos >= b.bufOff && start+int64(n) <= int64(len(b.buf)) {
		return b.buf[start : start+int64(n)], nil
	}
	want := int64(cap(b.buf))
	if want > b.remaining() {
		want = b.remaining()
	}
	b.buf = b.buf[:want]
	m, err := b.r.ReadAt(b.buf, b.pos)
	if m < n {
		if err == nil || errors.Is(err, io.EOF) {
			return nil, b.errTruncated(what, int64(n))
		}
		return nil, fmt.Errorf("reading %s at byte %d: %w", what, b.pos, err)
	}
	b.buf = b.buf[:m]
	b.bufOff = b.pos
	return b.buf[:n], nil
}

func (b *byteReader) read(n int, what string) ([]byte, error) {
	p, err := b.peek(n, what)
	if err == nil {
		b.pos += int64(n)
	}
	return p, err
}

func (b *byteReader) u8(what string) (uint8, error) {
	p, err := b.read(1, what)
	if err != nil {
		return 0, err
	}
	return p[0], nil
}

func (b *byteReader) u32(what string) (uint32, error) {
	p, err := b.read(4, what)
	if err != nil {
		return 0, err
	}
	return binary.LittleEndian.Uint32(p), nil
}

func (b *byteReader) u64(what string) (uint64, error) {
	p, err := b.read(8, what)
	if err != nil {
		return 0, err
	}
	return binary.LittleEndian.Uint64(p), nil
}

// skip advances n bytes without reading them.
func (b *byteReader) skip(n uint64, what string) error {
	if n > uint64(b.remaining()) {
		return b.errTruncated(what, int64(min(n, math.MaxInt64)))
	}
	b.pos += int64(n)
	return nil
}

// checkCount rejects a count of elements each at least minBytes long that
// cannot fit in the rest of the file.
func (b *byteReader) checkCount(n uint64, minBytes uint64, what string) error {
	if minBytes == 0 {
		minBytes = 1
	}
	if n > uint64(b.remaining())/minBytes {
		return fmt.Errorf("%w: %s is %d, but %d entries of at least %d bytes cannot fit in the %d bytes left of the file; the file is corrupt or not a GGUF file",
			ErrFormat, what, n, n, minBytes, b.remaining())
	}
	return nil
}

// str reads a GGUF string (u64 length + bytes). Strings longer than keep
// bytes are skipped and returned as "" with skipped set.
func (b *byteReader) str(what string, keep int) (s string, n uint64, skipped bool, err error) {
	n, err = b.u64(what + " length")
	if err != nil {
		return "", 0, false, err
	}
	if n > uint64(b.remaining()) {
		return "", n, false, fmt.Errorf("%w: %s claims %d bytes but only %d are left in the file; the file is corrupt or truncated",
			ErrFormat, what, n, b.remaining())
	}
	if n > uint64(keep) {
		return "", n, true, b.skip(n, what)
	}
	if n <= readWindow {
		p, err := b.read(int(n), what)
		return string(p), n, false, err
	}
	p := make([]byte, n)
	if _, err := b.r.ReadAt(p, b.pos); err != nil {
		return "", n, false, fmt.Errorf("reading %s at byte %d: %w", what, b.pos, err)
	}
	b.pos += int64(n)
	return string(p), n, false, nil
}
