package device

import (
	"context"
	"io"
)

// Transport is a byte stream to one board: a serial port, a pseudo-terminal,
// an in-memory pipe, or (later) an RFC 2217 connection.
//
// Read blocks until data arrives, the transport is closed, or an internal
// read timeout passes; a timeout is returned as an error whose Timeout
// method reports true (and that matches os.ErrDeadlineExceeded), never as
// (0, nil). Close must unblock a pending Read. Read and Write may be called
// concurrently with each other, but each by one goroutine at a time.
type Transport interface {
	io.Reader
	io.Writer
	io.Closer
}

// HardResetter is implemented by transports that can reset the board
// electrically, for example through the DTR and RTS lines of a USB-serial
// bridge wired to EN and IO0 as on ESP32 development boards.
type HardResetter interface {
	HardReset(ctx context.Context) error
}

// Aborter is implemented by transports whose Write can block in the kernel
// where Close does not reach it (a serial port whose peer stopped
// reading). Abort must make a blocked Write return and close the transport.
type Aborter interface {
	Abort() error
}

// Named is implemented by transports that have a path or address to show
// in errors and logs.
type Named interface {
	Name() string
}

func transportName(t Transport) string {
	if n, ok := t.(Named); ok {
		return n.Name()
	}
	return ""
}
