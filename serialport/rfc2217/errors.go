package rfc2217

import (
	"fmt"
	"os"

	"github.com/tinyprof/tinyprof/internal/errtext"
)

// Kind classifies an RFC 2217 error so that callers can branch on it.
type Kind int

// The kinds of failure.
const (
	Unreachable  Kind = iota + 1 // no TCP connection to the server
	Timeout                      // the context ended, or the server did not answer in time
	Closed                       // the connection is closed or was lost
	Protocol                     // the server does not speak RFC 2217, or broke it
	Settings                     // the server applied other line settings than asked for
	NoResetLines                 // the server's port did not take DTR/RTS (a pty behind ser2net)
	Busy                         // the server said its port is in use by another client
)

var kindText = map[Kind]string{
	Unreachable: "unreachable", Timeout: "timeout", Closed: "connection closed",
	Protocol: "protocol error", Settings: "line settings refused", NoResetLines: "no reset lines",
	Busy: "port busy",
}

func (k Kind) String() string {
	if s, ok := kindText[k]; ok {
		return s
	}
	return fmt.Sprintf("kind %d", int(k))
}

// Error is the error this package returns. Hint says what to do about it.
type Error struct {
	Op   string // "dial", "negotiate", "set baud rate", "read", "hard reset", ...
	Addr string // the server's address, HOST:PORT
	Kind Kind
	Err  error
	Hint string
}

func (e *Error) Error() string {
	return errtext.Format("rfc2217", e.Addr, e.Op, e.Kind.String(), e.Err, e.Hint)
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

// timeoutError is what Read returns after a quiet period: the transport
// contract of device.Transport, shared with serialport.Port.
type timeoutError struct{}

func (timeoutError) Error() string        { return "read timed out" }
func (timeoutError) Timeout() bool        { return true }
func (timeoutError) Temporary() bool      { return true }
func (timeoutError) Is(target error) bool { return target == os.ErrDeadlineExceeded }
