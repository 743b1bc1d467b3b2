package hwtest

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// Constraint narrows which boards a lease may be served by, or how long it
// may wait. Constraints combine with AND.
type Constraint func(*request)

// Platform asks for a board of the catalogue platform name ("esp32s3").
func Platform(name string) Constraint { return func(r *request) { r.platform = name } }

// Feature asks for a board whose inventory entry lists feature f
// ("psram", "power-meter"). It may be given several times.
func Feature(f string) Constraint { return func(r *request) { r.features = append(r.features, f) } }

// ID asks for the board with inventory id id (its USB serial number).
func ID(id string) Constraint { return func(r *request) { r.id = id } }

// Timeout bounds the wait for a free board. Without it the wait is bounded
// by -hwtest.lease-timeout, if set, and always by the test's deadline less
// a margin for cleanup.
func Timeout(d time.Duration) Constraint { return func(r *request) { r.timeout = d } }

type request struct {
	protocol string // ProtocolTinyprof unless LeaseEEMBC set it
	platform string
	features []string
	id       string
	timeout  time.Duration
}

func newRequest(protocol string, cs []Constraint) request {
	r := request{protocol: protocol}
	for _, c := range cs {
		if c != nil {
			c(&r)
		}
	}
	return r
}

// matches reports whether e satisfies r, and if not, why.
func (r request) matches(e Entry) (bool, string) {
	switch {
	case r.id != "" && e.ID != r.id:
		return false, "id"
	case protocolOf(e) != r.protocol:
		if protocolOf(e) == ProtocolEEMBC {
			return false, "protocol (eembc: lease it with LeaseEEMBC)"
		}
		return false, "protocol (" + protocolOf(e) + ": lease it with Lease)"
	case r.platform != "" && !strings.EqualFold(strings.ReplaceAll(r.platform, "_", "-"), e.Platform):
		return false, "platform"
	}
	for _, f := range r.features {
		if !slices.Contains(e.Features, f) {
			return false, "feature " + f
		}
	}
	return true, ""
}

func (r request) String() string {
	var parts []string
	if r.platform != "" {
		parts = append(parts, "platform="+r.platform)
	}
	for _, f := range r.features {
		parts = append(parts, "feature="+f)
	}
	if r.id != "" {
		parts = append(parts, "id="+r.id)
	}
	if r.protocol == ProtocolEEMBC {
		parts = append([]string{"protocol=eembc"}, parts...)
	}
	if len(parts) == 0 {
		return "any board"
	}
	return strings.Join(parts, " ")
}

func (r request) describe(n int) string {
	if n == 1 {
		return r.String()
	}
	return fmt.Sprintf("%d boards with %s", n, r)
}

// protocolOf returns e's protocol, ProtocolTinyprof if the entry was built
// in memory without one.
func protocolOf(e Entry) string {
	if e.Protocol == "" {
		return ProtocolTinyprof
	}
	return e.Protocol
}
