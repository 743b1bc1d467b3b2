package rfc2217

// ring is a fixed-size byte queue.
type ring struct {
	buf        []byte
	head, size int
}

// write copies as much of p as fits and returns how much it copied.
func (r *ring) write(p []byte) int {
	n := 0
	for n < len(p) && r.size < len(r.buf) {
		tail := (r.head + r.size) % len(r.buf)
		end := len(r.buf)
		if tail < r.head {
			end = r.head
		}
		k := copy(r.buf[tail:end], p[n:])
		r.size += k
		n += k
	}
	return n
}

// read moves up to len(p) bytes into p.
func (r *ring) read(p []byte) int {
	n := 0
	for n < len(p) && r.size > 0 {
		end := min(r.head+r.size, len(r.buf))
		k := copy(p[n:], r.buf[r.head:end])
		r.head = (r.head + k) % len(r.buf)
		r.size -= k
		n += k
	}
	return n
}

// reset empties the ring.
func (r *ring) reset() { r.head, r.size = 0, 0 }
