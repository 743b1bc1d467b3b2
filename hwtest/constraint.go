package hwtest

import (
	"time"

	"github.com/tinyprof/tinyprof/lab"
)

// Constraint narrows which boards a lease may be served by, or how long it
// may wait. Constraints combine with AND.
type Constraint func(*request)

// Platform asks for a board of the catalogue platform name ("esp32s3").
func Platform(name string) Constraint { return func(r *request) { r.Platform = name } }

// Feature asks for a board whose inventory entry lists feature f
// ("psram", "power-meter"). It may be given several times.
func Feature(f string) Constraint { return func(r *request) { r.Features = append(r.Features, f) } }

// ID asks for the board with inventory id id (its USB serial number).
func ID(id string) Constraint { return func(r *request) { r.ID = id } }

// Timeout bounds the wait for a free board. Without it the wait is bounded
// by -hwtest.lease-timeout, if set, and always by the test's deadline less
// a margin for cleanup.
func Timeout(d time.Duration) Constraint { return func(r *request) { r.timeout = d } }

// request is what the constraints of one lease ask the lab for.
type request struct {
	lab.Request
	timeout time.Duration
}

func newRequest(protocol string, cs []Constraint) request {
	r := request{Request: lab.Request{Protocol: protocol}}
	for _, c := range cs {
		if c != nil {
			c(&r)
		}
	}
	return r
}
