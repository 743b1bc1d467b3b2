package journal

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// Query selects events. The zero Query selects every event.
type Query struct {
	Since, Until time.Time // inclusive bounds; zero means unbounded
	Board        string    // "" for every board
	Kinds        []Kind    // empty for every kind
	// MaxEvents bounds the result; past it the oldest events are dropped
	// and counted in Result.Dropped. Default 1,000,000.
	MaxEvents int
}

func (q Query) match(e *Event) bool {
	if !q.Since.IsZero() && e.Time.Before(q.Since) {
		return false
	}
	if !q.Until.IsZero() && e.Time.After(q.Until) {
		return false
	}
	if q.Board != "" && e.Board != q.Board {
		return false
	}
	if len(q.Kinds) > 0 {
		for _, k := range q.Kinds {
			if e.Kind == k {
				return true
			}
		}
		return false
	}
	return true
}

// Result is what Read found.
type Result struct {
	// Events are the matching events, oldest first (by file order, which
	// is append order; events from several hosts' clocks may interleave).
	Events []Event `json:"events"`
	// Torn counts files whose last line was cut short by a crash; such a
	// line is skipped.
	Torn int `json:"torn"`
	// Bad lists lines that are not events (file:line: problem), at most
	// 20; BadCount counts them all.
	Bad      []string `json:"bad,omitempty"`
	BadCount int      `json:"bad_count"`
	// Dropped counts matching events left out by Query.MaxEvents.
	Dropped int `json:"dropped"`
}

// Read returns the events q selects from every file of the journal,
// rotated ones included. A torn last line or a line that is not an event
// is skipped and reported in the Result, never an error; an error means a
// file could not be read. Memory is bounded by q.MaxEvents and the
// journal's line limit.
//
// Read takes the journal's lock shared while it lists and opens the
// files, so that no writer rotates between the two (which would skip a
// file or read one twice), and releases it before reading: writers wait
// only for the open calls, and what they append meanwhile may or may not
// be read. It waits for a writer until ctx is done. A journal file that
// is not a regular file (a FIFO, a device, a symbolic link) is skipped and
// reported in Result.Bad; nothing in Read blocks past ctx.
func (j *Journal) Read(ctx context.Context, q Query) (*Result, error) {
	if q.MaxEvents <= 0 {
		q.MaxEvents = 1_000_000
	}
	files, skipped, err := j.openAll(ctx)
	if err != nil {
		return nil, err
	}
	defer func() {
		for _, f := range files {
			f.Close()
		}
	}()
	res := &Result{}
	for _, s := range skipped {
		res.bad(s)
	}
	for _, f := range files {
		if err := j.readFile(ctx, f, q, res); err != nil {
			return nil, err
		}
	}
	return res, nil
}

// openAll opens the journal's files, oldest first, under the shared lock.
// The caller closes them.
func (j *Journal) openAll(ctx context.Context) (files []*os.File, skipped []string, err error) {
	unlock, err := j.lock(ctx, unix.LOCK_SH)
	if err != nil {
		return nil, nil, err
	}
	defer unlock()
	names, err := j.files()
	if err != nil {
		return nil, nil, err
	}
	if j.testHookListed != nil {
		j.testHookListed()
	}
	out := make([]*os.File, 0, len(names))
	for _, name := range names {
		f, err := openRegular(name, os.O_RDONLY, 0)
		switch {
		case err == nil:
			out = append(out, f)
		case errors.Is(err, errNotRegular):
			// One bad entry must not hide the rest of the journal.
			skipped = append(skipped, err.Error())
		case errors.Is(err, os.ErrNotExist):
			// Removed by a writer's rotation since the listing.
		default:
			for _, f := range out {
				f.Close()
			}
			return nil, nil, err
		}
	}
	return out, skipped, nil
}

// files lists the journal's files, oldest first.
func (j *Journal) files() ([]string, error) {
	entries, err := os.ReadDir(j.dir)
	if err != nil {
		return nil, fmt.Errorf("journal: %w", err)
	}
	type rot struct {
		n    int
		name string
	}
	var rots []rot
	current := ""
	for _, e := range entries {
		name := e.Name()
		switch {
		case name == FileName:
			current = name
		case strings.HasPrefix(name, FileName+"."):
			n, err := strconv.Atoi(strings.TrimPrefix(name, FileName+"."))
			if err == nil && n > 0 {
				rots = append(rots, rot{n, name})
			}
		}
	}
	sort.Slice(rots, func(a, b int) bool { return rots[a].n > rots[b].n })
	var out []string
	for _, r := range rots {
		out = append(out, filepath.Join(j.dir, r.name))
	}
	if current != "" {
		out = append(out, filepath.Join(j.dir, current))
	}
	return out, nil
}

func (j *Journal) readFile(ctx context.Context, f *os.File, q Query, res *Result) error {
	path := f.Name()
	r := bufio.NewReaderSize(f, 64<<10)
	base := filepath.Base(path)
	for lineNo := 1; ; lineNo++ {
		if lineNo%4096 == 0 && ctx.Err() != nil {
			return ctx.Err()
		}
		line, complete, err := readLine(r, j.opts.MaxLine)
		if err == io.EOF && len(line) == 0 && complete {
			return nil
		}
		if err != nil && err != io.EOF {
			return fmt.Errorf("journal: read %s: %w", path, err)
		}
		switch {
		case !complete && err == io.EOF:
			res.Torn++ // a crash cut the last line short
			return nil
		case !complete:
			res.bad(fmt.Sprintf("%s:%d: line longer than %d bytes", base, lineNo, j.opts.MaxLine))
		case len(bytes.TrimSpace(line)) == 0:
		default:
			var e Event
			if derr := json.Unmarshal(line, &e); derr != nil || e.Kind == "" || e.Time.IsZero() {
				if derr == nil {
					derr = errors.New("no kind or time")
				}
				res.bad(fmt.Sprintf("%s:%d: not an event: %v", base, lineNo, derr))
			} else if q.match(&e) {
				res.Events = append(res.Events, e)
				if len(res.Events) > q.MaxEvents {
					res.Events = res.Events[1:]
					res.Dropped++
				}
			}
		}
		if err == io.EOF {
			return nil
		}
	}
}

func (r *Result) bad(s string) {
	r.BadCount++
	if len(r.Bad) < 20 {
		r.Bad = append(r.Bad, s)
	}
}

// readLine reads one line of at most max bytes. complete is false for a
// line cut short by EOF (no newline) or over max (the rest is discarded).
// At EOF with nothing read it returns (nil, true, io.EOF).
func readLine(r *bufio.Reader, max int) (line []byte, complete bool, err error) {
	var buf []byte
	over := false
	for {
		chunk, err := r.ReadSlice('\n')
		if !over {
			if len(buf)+len(chunk) > max+1 {
				over, buf = true, nil
			} else {
				buf = append(buf, chunk...)
			}
		}
		switch {
		case err == nil:
			if over {
				return nil, false, nil
			}
			return buf[:len(buf)-1], true, nil
		case errors.Is(err, bufio.ErrBufferFull):
			continue
		case err == io.EOF:
			if len(buf) == 0 && !over {
				return nil, true, io.EOF
			}
			return buf, false, io.EOF
		default:
			return nil, false, err
		}
	}
}
