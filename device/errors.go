package device

import (
	"errors"
	"fmt"

	"github.com/tinyprof/tinyprof/internal/errtext"
)

// Code classifies a device error so that callers can branch on it with
// errors.Is against the Err… sentinels.
type Code int

// The error codes.
const (
	CodePortMissing  Code = iota + 1 // the port path does not exist
	CodePortBusy                     // another process holds the port
	CodePermission                   // the OS refused to open the port
	CodeTimeout                      // the board did not answer in time
	CodeVersion                      // the board speaks another protocol version
	CodeBoardReset                   // the board rebooted during a request
	CodeCRC                          // corrupted frames beyond the retry budget
	CodeRemote                       // the board answered with an ERROR message
	CodeClosed                       // the connection is closed or was lost
	CodeNoProtocol                   // bytes arrive but no valid frame: no agent, or wrong baud rate
	CodeBadResponse                  // a frame that decodes but makes no sense here
	CodeNoResetLines                 // the port has no DTR/RTS lines (a pty, or a bridge without them)
	CodeImplausible                  // the board's figures break the protocol's invariants (see Generation.Problems)
)

var codeText = map[Code]string{
	CodePortMissing: "port missing", CodePortBusy: "port busy", CodePermission: "permission denied",
	CodeTimeout: "timeout", CodeVersion: "protocol version mismatch", CodeBoardReset: "board reset mid-request",
	CodeCRC: "corrupted frames", CodeRemote: "board error", CodeClosed: "connection closed",
	CodeNoProtocol: "no protocol", CodeBadResponse: "bad response", CodeNoResetLines: "no reset lines",
	CodeImplausible: "implausible figures",
}

func (c Code) String() string {
	if s, ok := codeText[c]; ok {
		return s
	}
	return fmt.Sprintf("code %d", int(c))
}

// Error is the error every Device method returns. Err holds the cause
// (for CodeRemote a *firmware.Error); Hint says what to do about it.
type Error struct {
	Op   string // the request, e.g. "ping", "open"
	Port string // the port path or transport name
	Code Code
	Err  error
	Hint string
}

func (e *Error) Error() string {
	return errtext.Format("device", e.Port, e.Op, e.Code.String(), e.Err, e.Hint)
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

// Is reports whether target is the sentinel for e's code.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Op == "" && t.Port == "" && t.Err == nil && t.Code == e.Code
}

// Sentinels for errors.Is.
var (
	ErrPortMissing  = &Error{Code: CodePortMissing}
	ErrPortBusy     = &Error{Code: CodePortBusy}
	ErrPermission   = &Error{Code: CodePermission}
	ErrTimeout      = &Error{Code: CodeTimeout}
	ErrVersion      = &Error{Code: CodeVersion}
	ErrBoardReset   = &Error{Code: CodeBoardReset}
	ErrCRC          = &Error{Code: CodeCRC}
	ErrRemote       = &Error{Code: CodeRemote}
	ErrClosed       = &Error{Code: CodeClosed}
	ErrNoProtocol   = &Error{Code: CodeNoProtocol}
	ErrBadResponse  = &Error{Code: CodeBadResponse}
	ErrNoResetLines = &Error{Code: CodeNoResetLines}
	ErrImplausible  = &Error{Code: CodeImplausible}
)

// isTimeout reports whether err is a read timeout rather than a failure.
func isTimeout(err error) bool {
	var t interface{ Timeout() bool }
	return errors.As(err, &t) && t.Timeout()
}
