package lab

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/tinyprof/tinyprof/platform"
)

// ErrUnknown matches, with errors.Is, a *RequestError: a Request that names
// a platform, feature or board the lab cannot know of. Unlike a
// LeaseError it is not a condition of the lab but a mistake in the request
// (a typo in a test), so waiting or skipping cannot help.
var ErrUnknown = errors.New("unknown")

// RequestError says which field of a Request names something unknown, and
// the known names closest to it.
type RequestError struct {
	Field   string   // "platform", "feature" or "id"
	Value   string   // what the request said
	Known   string   // where known names come from: "the platform catalogue", …
	Closest []string // the known names nearest to Value, best first; may be empty
}

func (e *RequestError) Error() string {
	s := fmt.Sprintf("unknown %s %q: not in %s", e.Field, e.Value, e.Known)
	if len(e.Closest) > 0 {
		s += "; did you mean " + orList(e.Closest) + "?"
	}
	return s
}

func (e *RequestError) Unwrap() error { return ErrUnknown }

// WellKnownFeatures returns the features tinyprof documents for inventory
// entries. A request may name one of them, or any feature some board of the
// lab lists, without being a typo; a lab that lacks it simply has no
// matching board.
func WellKnownFeatures() []string { return []string{"power-meter", "psram"} }

// Validate reports whether r names only things that exist: a platform of
// the catalogue (package platform), a feature that is well known or listed
// by a board of the lab, the id of a board of the lab. The error is a
// *RequestError, naming the closest known names. AcquireN calls it first;
// a caller may call it to tell a mistake (fail) from a lab condition
// (wait, or skip).
func (l *Lab) Validate(r Request) error {
	if r.Platform != "" {
		if _, err := platform.Lookup(r.Platform); err != nil {
			return &RequestError{Field: "platform", Value: r.Platform, Known: "the platform catalogue",
				Closest: closest(r.Platform, platform.Names())}
		}
	}
	known := WellKnownFeatures()
	var ids []string
	for _, e := range l.Boards {
		ids = append(ids, e.ID)
		for _, f := range e.Features {
			if !slices.Contains(known, f) {
				known = append(known, f)
			}
		}
	}
	for _, f := range r.Features {
		if !slices.Contains(known, f) {
			return &RequestError{Field: "feature", Value: f,
				Known:   "the well-known features (" + strings.Join(WellKnownFeatures(), ", ") + ") or those the lab's boards list",
				Closest: closest(f, known)}
		}
	}
	if r.ID != "" && !slices.Contains(ids, r.ID) {
		return &RequestError{Field: "id", Value: r.ID, Known: fmt.Sprintf("this lab's %d boards", len(ids)),
			Closest: closest(r.ID, ids)}
	}
	return nil
}

// closest returns up to three names near word: within an edit distance of
// a third of its length (at least 2), or sharing its first four letters,
// nearest first. Case, '-' and '_' do not count.
func closest(word string, names []string) []string {
	norm := func(s string) string {
		return strings.NewReplacer("-", "", "_", "").Replace(strings.ToLower(s))
	}
	w := norm(word)
	limit := max(2, len([]rune(w))/3)
	type cand struct {
		name string
		d    int
	}
	var cs []cand
	for _, n := range names {
		nn := norm(n)
		d := editDistance(w, nn)
		if d <= limit || (len(w) >= 4 && strings.HasPrefix(nn, w[:4])) {
			cs = append(cs, cand{n, d})
		}
	}
	slices.SortStableFunc(cs, func(a, b cand) int { return a.d - b.d })
	var out []string
	for _, c := range cs[:min(3, len(cs))] {
		out = append(out, c.name)
	}
	return out
}

// editDistance is the Levenshtein distance between a and b, in runes.
func editDistance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	prev := make([]int, len(rb)+1)
	cur := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		for j := 1; j <= len(rb); j++ {
			sub := prev[j-1]
			if ra[i-1] != rb[j-1] {
				sub++
			}
			cur[j] = min(sub, prev[j]+1, cur[j-1]+1)
		}
		prev, cur = cur, prev
	}
	return prev[len(rb)]
}

// orList renders names as `"a"`, `"a" or "b"`, `"a", "b" or "c"`.
func orList(names []string) string {
	q := make([]string, len(names))
	for i, n := range names {
		q[i] = fmt.Sprintf("%q", n)
	}
	if len(q) == 1 {
		return q[0]
	}
	return strings.Join(q[:len(q)-1], ", ") + " or " + q[len(q)-1]
}
