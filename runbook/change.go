package runbook

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// ParseChange reads a change between an old and a new figure as a runbook
// writes it, and returns it as the ratio new/old: a multiple such as "2x"
// or "1.5x" (the runbook's "> 2x baseline"), or a change in percent such as
// "+10%" or "-10%" (0.9). The ratio is always positive and finite.
func ParseChange(s string) (float64, error) {
	s = strings.TrimSpace(s)
	switch {
	case strings.HasSuffix(s, "x"):
		r, err := strconv.ParseFloat(strings.TrimSpace(strings.TrimSuffix(s, "x")), 64)
		if err != nil || !(r > 0) || math.IsInf(r, 0) {
			return 0, fmt.Errorf("%q is not a positive ratio such as 2x", s)
		}
		return r, nil
	case strings.HasSuffix(s, "%"):
		p, err := strconv.ParseFloat(strings.TrimSpace(strings.TrimSuffix(s, "%")), 64)
		if err != nil || !(p > -100) || math.IsInf(p, 0) {
			return 0, fmt.Errorf("%q is not a change above -100%% such as +10%% or -10%%", s)
		}
		return 1 + p/100, nil
	}
	return 0, fmt.Errorf("%q needs a unit: x for a ratio (2x) or %% for a change (-10%%)", s)
}
