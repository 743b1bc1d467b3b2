// Package errtext renders tinyprof's typed errors in one shape, so that a
// device error and a power-meter error read alike:
//
//	device /dev/ttyUSB0: ping: timeout: no answer after 2s (hint)
package errtext

import "strings"

// Format returns "pkg subject: op: code: cause (hint)", leaving out the
// parts that are empty (cause nil).
func Format(pkg, subject, op, code string, cause error, hint string) string {
	var b strings.Builder
	b.WriteString(pkg)
	if subject != "" {
		b.WriteString(" " + subject)
	}
	if op != "" {
		b.WriteString(": " + op)
	}
	b.WriteString(": " + code)
	if cause != nil {
		b.WriteString(": " + cause.Error())
	}
	if hint != "" {
		b.WriteString(" (" + hint + ")")
	}
	return b.String()
}
