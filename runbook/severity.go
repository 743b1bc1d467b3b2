package runbook

import "fmt"

// Severity grades an event. Info, Warning and Error grade ordinary events;
// P0 to P3 are the runbook's incident severities, used by alerts.
type Severity string

// The severities.
const (
	Info    Severity = "info"
	Warning Severity = "warning"
	Error   Severity = "error"
	P0      Severity = "P0" // critical: complete outage, risk of data loss
	P1      Severity = "P1" // high: major functionality impaired
	P2      Severity = "P2" // medium: limited impairment, workarounds exist
	P3      Severity = "P3" // low: minor, no immediate impact
)

// Rank orders severities for "the worst of": P0 is the highest, then P1,
// P2, P3, Error, Warning, Info; unknown severities rank lowest.
func (s Severity) Rank() int {
	switch s {
	case P0:
		return 7
	case P1:
		return 6
	case P2:
		return 5
	case P3:
		return 4
	case Error:
		return 3
	case Warning:
		return 2
	case Info:
		return 1
	}
	return 0
}

// ParseIncidentSeverity accepts P0, P1, P2 or P3 (any case).
func ParseIncidentSeverity(s string) (Severity, error) {
	switch v := Severity(s); v {
	case P0, P1, P2, P3:
		return v, nil
	case "p0", "p1", "p2", "p3":
		return Severity("P" + s[1:]), nil
	}
	return "", fmt.Errorf("severity %q: use P0 (critical), P1 (high), P2 (medium) or P3 (low)", s)
}
