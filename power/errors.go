package power

import (
	"fmt"

	"github.com/tinyprof/tinyprof/internal/errtext"
)

// Code classifies a meter or energy error so that callers can branch on it
// with errors.Is against the Err… sentinels.
type Code int

// The error codes.
const (
	CodeTimeout     Code = iota + 1 // the meter did not answer or stopped streaming
	CodeProtocol                    // the meter's bytes do not follow the expected protocol or version
	CodeCalibration                 // the calibration block cannot be parsed
	CodeRemote                      // the meter answered a command with an error
	CodeClosed                      // the port is closed or was lost
	CodeNoSamples                   // a window holds no samples: no figure can be given
	CodeNoVoltage                   // samples carry no voltage, so no power or energy
	CodeBadArgument                 // a caller's argument is out of range
	CodeNoModel                     // no cited power figures for this platform
)

var codeText = map[Code]string{
	CodeTimeout: "timeout", CodeProtocol: "protocol mismatch", CodeCalibration: "bad calibration",
	CodeRemote: "meter error", CodeClosed: "connection closed", CodeNoSamples: "no samples",
	CodeNoVoltage: "voltage unknown", CodeBadArgument: "bad argument", CodeNoModel: "no power model",
}

// String returns the code's short description.
func (c Code) String() string {
	if s, ok := codeText[c]; ok {
		return s
	}
	return fmt.Sprintf("code %d", int(c))
}

// Error is the error the meters and the energy functions return. Hint says
// what to do about it.
type Error struct {
	Op    string // the operation, e.g. "start", "read", "integrate"
	Meter string // the meter kind and port, "" for arithmetic
	Code  Code
	Err   error
	Hint  string
}

func (e *Error) Error() string {
	return errtext.Format("power", e.Meter, e.Op, e.Code.String(), e.Err, e.Hint)
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

// Is reports whether target is the sentinel for e's code.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Op == "" && t.Meter == "" && t.Err == nil && t.Code == e.Code
}

// Sentinels for errors.Is.
var (
	ErrTimeout     = &Error{Code: CodeTimeout}
	ErrProtocol    = &Error{Code: CodeProtocol}
	ErrCalibration = &Error{Code: CodeCalibration}
	ErrRemote      = &Error{Code: CodeRemote}
	ErrClosed      = &Error{Code: CodeClosed}
	ErrNoSamples   = &Error{Code: CodeNoSamples}
	ErrNoVoltage   = &Error{Code: CodeNoVoltage}
	ErrBadArgument = &Error{Code: CodeBadArgument}
	ErrNoModel     = &Error{Code: CodeNoModel}
)
