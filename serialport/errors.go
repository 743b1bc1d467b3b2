package serialport

import (
	"fmt"
	"os"

	"github.com/tinyprof/tinyprof/internal/errtext"
)

// Kind classifies a serial-port error so that callers can branch on it.
type Kind int

// The kinds of failure.
const (
	Missing      Kind = iota + 1 // the path does not exist, or is not a serial port
	Busy                         // another process holds the port
	Permission                   // the OS refused to open the port
	Timeout                      // the context ended before the port opened
	Closed                       // the port is closed, was lost, or failed
	NoResetLines                 // the port has no DTR/RTS lines (a pty, or a bridge without them)
)

var kindText = map[Kind]string{
	Missing: "port missing", Busy: "port busy", Permission: "permission denied",
	Timeout: "timeout", Closed: "connection closed", NoResetLines: "no reset lines",
}

func (k Kind) String() string {
	if s, ok := kindText[k]; ok {
		return s
	}
	return fmt.Sprintf("kind %d", int(k))
}

// Error is the error this package returns. Hint says what to do about it.
// The device package turns it into a *device.Error with the matching code.
type Error struct {
	Op   string // "open", "read", "write", "hard reset", "find"
	Port string // the path, or the serial number looked for
	Kind Kind
	Err  error
	Hint string
}

func (e *Error) Error() string {
	return errtext.Format("serial", e.Port, e.Op, e.Kind.String(), e.Err, e.Hint)
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

// timeoutError is what Read returns when the line was quiet for the read
// timeout. It satisfies os.ErrDeadlineExceeded and net.Error's Timeout.
type timeoutError struct{}

func (timeoutError) Error() string        { return "read timed out" }
func (timeoutError) Timeout() bool        { return true }
func (timeoutError) Temporary() bool      { return true }
func (timeoutError) Is(target error) bool { return target == os.ErrDeadlineExceeded }
