package firmware

import "errors"

// errCOBS reports an encoded block whose code byte points past its end.
var errCOBS = errors.New("cobs: code byte points past the end of the frame")

// cobsEncode appends the COBS encoding of src to dst (Cheshire & Baker,
// "Consistent Overhead Byte Stuffing", IEEE/ACM ToN 1999). The result holds
// no 0x00 byte, so 0x00 can delimit frames on the wire. It costs at most one
// byte per 254 bytes of input, plus one.
func cobsEncode(dst, src []byte) []byte {
	codeAt := len(dst)
	dst = append(dst, 0)
	code := byte(1)
	for _, b := range src {
		if b == 0 {
			dst[codeAt] = code
			codeAt = len(dst)
			dst = append(dst, 0)
			code = 1
			continue
		}
		dst = append(dst, b)
		code++
		if code == 0xFF {
			dst[codeAt] = code
			codeAt = len(dst)
			dst = append(dst, 0)
			code = 1
		}
	}
	dst[codeAt] = code
	return dst
}

// cobsDecode appends the decoding of the COBS block src (without its 0x00
// delimiter) to dst.
func cobsDecode(dst, src []byte) ([]byte, error) {
	for i := 0; i < len(src); {
		code := int(src[i])
		if code == 0 {
			return dst, errors.New("cobs: zero byte inside a frame")
		}
		i++
		end := i + code - 1
		if end > len(src) {
			return dst, errCOBS
		}
		for _, b := range src[i:end] {
			if b == 0 {
				return dst, errors.New("cobs: zero byte inside a frame")
			}
		}
		dst = append(dst, src[i:end]...)
		i = end
		if code < 0xFF && i < len(src) {
			dst = append(dst, 0)
		}
	}
	return dst, nil
}

// cobsMaxEncoded returns the largest encoding of n bytes.
func cobsMaxEncoded(n int) int { return n + n/254 + 1 }
