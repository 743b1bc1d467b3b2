package runbook

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// ParseTime reads a point in time as an on-call engineer types it:
//
//   - RFC 3339: "2026-11-26T14:00:00Z", "2026-11-26T14:00:00+01:00"
//   - a date, or a date and time, in now's location: "2026-11-26",
//     "2026-11-26 14:00", "2026-11-26 14:00:05"
//   - a relative time: "2 hours ago", "90 minutes ago", "1 day ago",
//     "1h30m ago", "2h" (a Go duration, taken as ago)
//   - "now", "today" (midnight in now's location), "yesterday"
//
// Units are s/sec/second, m/min/minute, h/hr/hour, d/day and w/week,
// singular or plural. now is the reference for relative times.
func ParseTime(s string, now time.Time) (time.Time, error) {
	in := strings.TrimSpace(s)
	low := strings.ToLower(in)
	switch low {
	case "":
		return time.Time{}, fmt.Errorf("empty time: give e.g. \"2 hours ago\" or an RFC 3339 time such as %s", now.UTC().Format(time.RFC3339))
	case "now":
		return now, nil
	case "today":
		y, m, d := now.Date()
		return time.Date(y, m, d, 0, 0, 0, 0, now.Location()), nil
	case "yesterday":
		y, m, d := now.Date()
		return time.Date(y, m, d-1, 0, 0, 0, 0, now.Location()), nil
	}
	for _, layout := range []string{time.RFC3339Nano, time.RFC3339} {
		if t, err := time.Parse(layout, in); err == nil {
			return t, nil
		}
	}
	for _, layout := range []string{"2006-01-02", "2006-01-02 15:04", "2006-01-02 15:04:05", "2006-01-02T15:04", "2006-01-02T15:04:05"} {
		if t, err := time.ParseInLocation(layout, in, now.Location()); err == nil {
			return t, nil
		}
	}
	rel := strings.TrimSpace(strings.TrimSuffix(low, "ago"))
	if d, err := parseSpan(rel); err == nil {
		if d < 0 {
			return time.Time{}, fmt.Errorf("time %q is in the future: give how long ago, e.g. \"2 hours ago\"", s)
		}
		return now.Add(-d), nil
	}
	return time.Time{}, fmt.Errorf("cannot read time %q: use \"2 hours ago\", \"30 minutes ago\", \"1h30m\", \"yesterday\", a date (2006-01-02 15:04) or RFC 3339 (%s)", s, now.UTC().Format(time.RFC3339))
}

// ParseSpan reads a length of time: a Go duration ("90m", "1h30m") or a
// count and a unit ("5 minutes", "2 hours", "1 day"). It is how alert
// windows ("over 5 minutes") are read too.
func ParseSpan(s string) (time.Duration, error) {
	d, err := parseSpan(strings.ToLower(strings.TrimSpace(s)))
	if err != nil {
		return 0, fmt.Errorf("cannot read duration %q: use e.g. \"5 minutes\", \"30s\" or \"1h30m\"", s)
	}
	if d <= 0 {
		return 0, fmt.Errorf("duration %q must be positive", s)
	}
	return d, nil
}

func parseSpan(s string) (time.Duration, error) {
	if d, err := time.ParseDuration(s); err == nil {
		return d, nil
	}
	fields := strings.Fields(s)
	if len(fields) == 1 { // "5min", "2hours"
		i := strings.IndexFunc(fields[0], func(r rune) bool { return (r < '0' || r > '9') && r != '.' })
		if i <= 0 {
			return 0, fmt.Errorf("no unit")
		}
		fields = []string{fields[0][:i], fields[0][i:]}
	}
	if len(fields) != 2 {
		return 0, fmt.Errorf("want a number and a unit")
	}
	n, err := strconv.ParseFloat(fields[0], 64)
	if err != nil || n < 0 || n > 1e6 {
		return 0, fmt.Errorf("bad number")
	}
	unit, ok := units[fields[1]]
	if !ok {
		unit, ok = units[strings.TrimSuffix(fields[1], "s")]
	}
	if !ok {
		return 0, fmt.Errorf("unknown unit %q", fields[1])
	}
	return time.Duration(n * float64(unit)), nil
}

var units = map[string]time.Duration{
	"s": time.Second, "sec": time.Second, "second": time.Second,
	"m": time.Minute, "min": time.Minute, "minute": time.Minute,
	"h": time.Hour, "hr": time.Hour, "hour": time.Hour,
	"d": 24 * time.Hour, "day": 24 * time.Hour,
	"w": 7 * 24 * time.Hour, "week": 7 * 24 * time.Hour,
	"ms": time.Millisecond,
}
