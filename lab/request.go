package lab

import (
	"fmt"
	"slices"
	"strings"
)

// Request says which boards may serve a lease. Its fields combine with
// AND; the zero Request matches any tinyprof board.
type Request struct {
	// Protocol is the protocol the board's firmware must speak. Default
	// ProtocolTinyprof.
	Protocol string
	// Platform, if set, is the catalogue platform ("esp32s3"; '_' and
	// case do not matter).
	Platform string
	// Features are features the entry must list, every one.
	Features []string
	// ID, if set, is the one board's inventory id.
	ID string
}

func (r Request) protocol() string {
	if r.Protocol == "" {
		return ProtocolTinyprof
	}
	return r.Protocol
}

// Matches reports whether e satisfies r, and if not, which field differs
// ("id", "platform", "feature psram", "protocol (…)").
func (r Request) Matches(e Entry) (bool, string) {
	switch {
	case r.ID != "" && e.ID != r.ID:
		return false, "id"
	case protocolOf(e) != r.protocol():
		if protocolOf(e) == ProtocolEEMBC {
			return false, "protocol (eembc: lease it with LeaseEEMBC)"
		}
		return false, "protocol (" + protocolOf(e) + ": lease it with Lease)"
	case r.Platform != "" && !strings.EqualFold(strings.ReplaceAll(r.Platform, "_", "-"), e.Platform):
		return false, "platform"
	}
	for _, f := range r.Features {
		if !slices.Contains(e.Features, f) {
			return false, "feature " + f
		}
	}
	return true, ""
}

// String renders r as lease errors show it: "platform=esp32s3
// feature=psram", or "any board".
func (r Request) String() string {
	var parts []string
	if r.Platform != "" {
		parts = append(parts, "platform="+r.Platform)
	}
	for _, f := range r.Features {
		parts = append(parts, "feature="+f)
	}
	if r.ID != "" {
		parts = append(parts, "id="+r.ID)
	}
	if r.protocol() == ProtocolEEMBC {
		parts = append([]string{"protocol=eembc"}, parts...)
	}
	if len(parts) == 0 {
		return "any board"
	}
	return strings.Join(parts, " ")
}

func (r Request) describe(n int) string {
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
