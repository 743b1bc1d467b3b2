package bench

import (
	"encoding/json"
	"fmt"
	"math"
)

// Interval is an estimate with its confidence interval: the leak rate of
// CheckLeaks, a profile report's medians, a comparison's. Center is the
// estimate — a median of the samples, or the median of pairwise slopes
// for a trend — and Lo and Hi bound it at level Confidence over N samples.
// When the samples are too few for an interval at that level, Lo is -Inf
// and Hi +Inf (see Bounded).
type Interval struct {
	Center     float64
	Lo, Hi     float64
	Confidence float64
	N          int
}

// Bounded reports whether the interval is finite: whether there were
// samples enough for one.
func (iv Interval) Bounded() bool {
	return !math.IsInf(iv.Lo, 0) && !math.IsNaN(iv.Lo) && !math.IsInf(iv.Hi, 0) && !math.IsNaN(iv.Hi)
}

// intervalJSON is Interval on the wire. "median" keeps the layout of the
// profile report's schema tinyprof.profile/v1; an unbounded interval has
// no lo and hi (JSON has no infinity), and a note that says why.
type intervalJSON struct {
	Median     float64  `json:"median"`
	Lo         *float64 `json:"lo,omitempty"`
	Hi         *float64 `json:"hi,omitempty"`
	Confidence float64  `json:"confidence,omitempty"`
	N          int      `json:"n,omitempty"`
	Note       string   `json:"note,omitempty"`
}

// MarshalJSON writes iv as {"median", "lo", "hi", "confidence", "n"},
// without lo and hi, and with a note, when it is not Bounded.
func (iv Interval) MarshalJSON() ([]byte, error) {
	j := intervalJSON{Median: iv.Center, Confidence: iv.Confidence, N: iv.N}
	if iv.Bounded() {
		lo, hi := iv.Lo, iv.Hi
		j.Lo, j.Hi = &lo, &hi
	} else if iv.N > 0 {
		j.Note = fmt.Sprintf("%d samples are too few for a %.0f%% interval", iv.N, iv.Confidence*100)
	}
	return json.Marshal(j)
}

// UnmarshalJSON reads what MarshalJSON writes; absent bounds are
// infinite.
func (iv *Interval) UnmarshalJSON(b []byte) error {
	var j intervalJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return err
	}
	*iv = Interval{Center: j.Median, Lo: math.Inf(-1), Hi: math.Inf(1), Confidence: j.Confidence, N: j.N}
	if j.Lo != nil && j.Hi != nil {
		iv.Lo, iv.Hi = *j.Lo, *j.Hi
	}
	return nil
}
