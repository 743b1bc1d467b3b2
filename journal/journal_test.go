package journal

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
	"golang.org/x/sys/unix"

	"github.com/tinyprof/tinyprof/runbook"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// open returns a journal in a fresh directory.
func open(tb testing.TB, opts Options) *Journal {
	tb.Helper()
	j, err := Open(filepath.Join(tb.TempDir(), "journal"), opts)
	require.NoError(tb, err)
	return j
}

var t0 = time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)

func TestAppendRead(t *testing.T) {
	j := open(t, Options{})
	ctx := t.Context()
	in := []Event{
		{Time: t0, Board: "sim-a", Kind: KindConnect, Details: map[string]any{"ok": true}},
		{Time: t0.Add(time.Minute), Board: "sim-b", Kind: KindConnect, Severity: runbook.Error, Details: map[string]any{"ok": false}},
		{Time: t0.Add(2 * time.Minute), Kind: KindCommand, Message: "health-check"},
	}
	require.NoError(t, j.Append(ctx, in[0]))
	require.NoError(t, j.Append(ctx, in[1:]...))

	res, err := j.Read(ctx, Query{})
	require.NoError(t, err)
	require.Len(t, res.Events, 3)
	for i := range res.Events {
		assert.Equal(t, os.Getpid(), res.Events[i].PID)
		res.Events[i].Host, res.Events[i].PID = "", 0
	}
	in[0].Severity, in[2].Severity = runbook.Info, runbook.Info
	if diff := cmp.Diff(in, res.Events); diff != "" {
		t.Errorf("read back (-want +got):\n%s", diff)
	}

	tests := []struct {
		name string
		q    Query
		want int
	}{
		{"since", Query{Since: t0.Add(time.Minute)}, 2},
		{"until", Query{Until: t0.Add(time.Minute)}, 2},
		{"window", Query{Since: t0.Add(30 * time.Second), Until: t0.Add(90 * time.Second)}, 1},
		{"board", Query{Board: "sim-b"}, 1},
		{"kind", Query{Kinds: []Kind{KindCommand}}, 1},
		{"max events keeps the newest", Query{MaxEvents: 1}, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := j.Read(ctx, tt.q)
			require.NoError(t, err)
			assert.Len(t, res.Events, tt.want)
		})
	}
	res, err = j.Read(ctx, Query{MaxEvents: 1})
	require.NoError(t, err)
	assert.Equal(t, KindCommand, res.Events[0].Kind)
	assert.Equal(t, 2, res.Dropped)
}

func TestTornLastLine(t *testing.T) {
	j := open(t, Options{})
	ctx := t.Context()
	require.NoError(t, j.Append(ctx, Event{Time: t0, Kind: KindLease, Board: "a"}))
	// A writer killed mid-write leaves half a line.
	f, err := os.OpenFile(j.Path(), os.O_WRONLY|os.O_APPEND, 0)
	require.NoError(t, err)
	_, err = f.WriteString(`{"time":"2026-11-26T12:00:01Z","kind":"lea`)
	require.NoError(t, err)
	require.NoError(t, f.Close())

	res, err := j.Read(ctx, Query{})
	require.NoError(t, err)
	assert.Len(t, res.Events, 1)
	assert.Equal(t, 1, res.Torn)

	// The next append starts on a fresh line: the fragment stays one bad
	// line and the new event survives.
	require.NoError(t, j.Append(ctx, Event{Time: t0.Add(time.Second), Kind: KindLease, Board: "b"}))
	res, err = j.Read(ctx, Query{})
	require.NoError(t, err)
	require.Len(t, res.Events, 2)
	assert.Equal(t, "b", res.Events[1].Board)
	assert.Equal(t, 0, res.Torn)
	assert.Equal(t, 1, res.BadCount)
	assert.Contains(t, res.Bad[0], "journal.jsonl:2: not an event")
}

func TestRotation(t *testing.T) {
	j := open(t, Options{MaxSize: 1000, Keep: 2})
	ctx := t.Context()
	for i := range 100 {
		require.NoError(t, j.Append(ctx, Event{Time: t0.Add(time.Duration(i) * time.Second), Kind: KindCommand, Details: map[string]any{"i": i}}))
	}
	files, err := j.files()
	require.NoError(t, err)
	require.Len(t, files, 3, "current file and Keep rotated ones")
	var total int64
	for _, f := range files {
		st, err := os.Stat(f)
		require.NoError(t, err)
		total += st.Size()
	}
	assert.LessOrEqual(t, total, int64(3*1200), "the journal is bounded by (Keep+1) × MaxSize plus a line")

	res, err := j.Read(ctx, Query{})
	require.NoError(t, err)
	require.NotEmpty(t, res.Events)
	last := res.Events[len(res.Events)-1]
	n, _ := last.Number("i")
	assert.Equal(t, 99.0, n, "the newest event survives rotation")
	for i := 1; i < len(res.Events); i++ {
		assert.True(t, res.Events[i-1].Time.Before(res.Events[i].Time), "rotated files are read oldest first")
	}
}

func TestConcurrentAppend(t *testing.T) {
	j := open(t, Options{MaxSize: 4000, Keep: 100})
	ctx := t.Context()
	var wg sync.WaitGroup
	const writers, each = 4, 50
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			j2, err := Open(j.Dir(), Options{MaxSize: 4000, Keep: 100}) // as another process would
			if err != nil {
				t.Error(err)
				return
			}
			for i := range each {
				if err := j2.Append(ctx, Event{Kind: KindCommand, Message: fmt.Sprintf("w%d-%d %s", w, i, strings.Repeat("x", 40))}); err != nil {
					t.Error(err)
				}
			}
		}()
	}
	wg.Wait()
	res, err := j.Read(ctx, Query{})
	require.NoError(t, err)
	assert.Len(t, res.Events, writers*each, "no event lost or torn by concurrent writers and rotation")
	assert.Zero(t, res.BadCount)
	assert.Zero(t, res.Torn)
}

func TestOversizedEvent(t *testing.T) {
	j := open(t, Options{MaxLine: 512})
	ctx := t.Context()
	require.NoError(t, j.Append(ctx, Event{Kind: KindCommand, Details: map[string]any{"blob": strings.Repeat("x", 4096)}}))
	res, err := j.Read(ctx, Query{})
	require.NoError(t, err)
	require.Len(t, res.Events, 1)
	assert.Contains(t, res.Events[0].Text("truncated"), "over the 512-byte line limit")

	require.Error(t, j.Append(ctx, Event{}), "an event needs a kind")
}

func TestOpenErrors(t *testing.T) {
	_, err := Open("", Options{})
	require.ErrorContains(t, err, "TINYPROF_STATE_DIR")
	file := filepath.Join(t.TempDir(), "f")
	require.NoError(t, os.WriteFile(file, nil, 0o644))
	_, err = Open(filepath.Join(file, "journal"), Options{})
	require.ErrorContains(t, err, "not usable")
}

func TestAppendWaitsForContext(t *testing.T) {
	j := open(t, Options{})
	unlock, err := j.lock(t.Context(), unix.LOCK_EX)
	require.NoError(t, err)
	defer unlock()
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	err = j.Append(ctx, Event{Kind: KindCommand})
	require.ErrorIs(t, err, context.Canceled)
	_, err = j.Read(ctx, Query{})
	require.ErrorIs(t, err, context.Canceled, "a reader waits for a writer")
}

// TestReadHoldsOffRotation: a writer that would rotate the journal
// between Read listing its files and opening them (the hook) finds the
// lock taken, so Read returns every event exactly once, in order. The
// writer is given a cancelled context, so it appends only if it can take
// the lock at once: no waiting, no timing.
func TestReadHoldsOffRotation(t *testing.T) {
	j := open(t, Options{MaxSize: 300, Keep: 8})
	ctx := t.Context()
	const n = 20
	for i := range n {
		require.NoError(t, j.Append(ctx, Event{Time: t0.Add(time.Duration(i) * time.Second), Kind: KindCommand, Details: map[string]any{"i": i}}))
	}
	files, err := j.files()
	require.NoError(t, err)
	require.Greater(t, len(files), 2, "the journal has rotated files")
	require.Less(t, len(files), 9, "no file was deleted")

	now, cancel := context.WithCancel(ctx)
	cancel()
	var hookErr error
	j.testHookListed = func() {
		// The current file is full, so this append rotates first.
		hookErr = j.Append(now, Event{Time: t0.Add(time.Hour), Kind: KindCommand, Details: map[string]any{"i": n}})
	}
	res, err := j.Read(ctx, Query{})
	j.testHookListed = nil
	require.NoError(t, err)
	require.ErrorIs(t, hookErr, context.Canceled, "the writer must wait for the reader")
	var got []float64
	for _, e := range res.Events {
		i, _ := e.Number("i")
		got = append(got, i)
	}
	want := make([]float64, n)
	for i := range want {
		want[i] = float64(i)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("events read (-want +got):\n%s", diff)
	}
	require.NoError(t, j.Append(ctx, Event{Kind: KindCommand}), "the reader released the lock")
}

// TestNewFileSyncsDirectory: every Append that creates the current file
// (the first one, and the one after each rotation) fsyncs the directory
// after creating it, so the new file's name is as durable as its events.
func TestNewFileSyncsDirectory(t *testing.T) {
	j := open(t, Options{MaxSize: 200, Keep: 2})
	var seen []bool // at each directory sync: did the current file exist?
	j.testHookSyncedDir = func() {
		_, err := os.Stat(j.Path())
		seen = append(seen, err == nil)
	}
	ctx := t.Context()
	for i := range 10 {
		_, err := os.Stat(j.Path())
		creates := err != nil
		if !creates {
			st, err := os.Stat(j.Path())
			require.NoError(t, err)
			creates = st.Size() >= 200 // this append rotates, then creates
		}
		seen = nil
		require.NoError(t, j.Append(ctx, Event{Kind: KindCommand, Details: map[string]any{"i": i}}))
		if creates {
			require.NotEmpty(t, seen, "append %d created the file without syncing the directory", i)
			assert.True(t, seen[len(seen)-1], "append %d: the last directory sync came before the file was created", i)
		} else {
			assert.Empty(t, seen, "append %d to an existing file needs no directory sync", i)
		}
	}
}

func FuzzRead(f *testing.F) {
	f.Add([]byte(`{"time":"2026-11-26T12:00:00Z","kind":"connect","details":{"ok":false}}` + "\n"))
	f.Add([]byte("{\"time\":\"2026-11-26T12:00:00Z\",\"ki"))
	f.Add([]byte("\n\n\xff\x00{}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		j := open(t, Options{MaxLine: 256})
		require.NoError(t, os.WriteFile(j.Path(), data, 0o644))
		res, err := j.Read(t.Context(), Query{})
		require.NoError(t, err)
		BuildReport(res, time.Time{}, time.Now().Add(time.Hour)).WriteMarkdown(&strings.Builder{})
	})
}

// TestHostileFiles: a FIFO, a symbolic link or a directory in place of
// one of the journal's files is refused (a writer) or skipped and reported
// (a reader), at once: an open of a FIFO used to block until a peer came,
// past every context and Ctrl-C, and a link made a writer append to a
// file of someone else's choosing.
func TestHostileFiles(t *testing.T) {
	fifo := func(t *testing.T, p string) { require.NoError(t, unix.Mkfifo(p, 0o600)) }
	dir := func(t *testing.T, p string) { require.NoError(t, os.Mkdir(p, 0o700)) }
	victim := ""
	link := func(t *testing.T, p string) {
		victim = filepath.Join(t.TempDir(), "victim")
		require.NoError(t, os.WriteFile(victim, []byte("precious\n"), 0o644))
		require.NoError(t, os.Symlink(victim, p))
	}
	tests := []struct {
		name     string
		file     string // which of the journal's files is replaced
		make     func(*testing.T, string)
		appendOK bool   // Append still works (the bad file is not the one it writes)
		readErr  string // "" if Read skips the file and reports it in Bad
	}{
		{"FIFO as the current file", FileName, fifo, false, ""},
		{"FIFO as a rotated file", FileName + ".1", fifo, true, ""},
		{"link as the current file", FileName, link, false, ""},
		{"link as a rotated file", FileName + ".2", link, true, ""},
		{"directory as the current file", FileName, dir, false, ""},
		{"FIFO as the lock", lockName, fifo, false, "FIFO"},
		{"link as the lock", lockName, link, false, "symbolic link"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			victim = ""
			j := open(t, Options{})
			if tt.file != FileName {
				require.NoError(t, j.Append(t.Context(), Event{Kind: KindCommand, Message: "before"}))
			}
			os.Remove(filepath.Join(j.Dir(), tt.file)) // the lock the first Append made
			tt.make(t, filepath.Join(j.Dir(), tt.file))
			// A blocked open ignores the context; the test's own wait
			// catches it, and a writer end releases it afterwards.
			t.Cleanup(func() {
				if f, err := os.OpenFile(filepath.Join(j.Dir(), tt.file), os.O_RDWR|unix.O_NONBLOCK, 0); err == nil {
					f.Close()
				}
			})
			ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
			defer cancel()
			type result struct {
				res       *Result
				appendErr error
				readErr   error
			}
			done := make(chan result, 1)
			go func() {
				var r result
				r.appendErr = j.Append(ctx, Event{Kind: KindCommand, Message: "after"})
				r.res, r.readErr = j.Read(ctx, Query{})
				done <- r
			}()
			var r result
			select {
			case r = <-done:
			case <-time.After(20 * time.Second):
				t.Fatal("the journal blocked on a hostile file past its context")
			}
			require.NoError(t, ctx.Err(), "refused at once, not at the deadline")
			if tt.appendOK {
				require.NoError(t, r.appendErr)
			} else {
				require.Error(t, r.appendErr)
				assert.Contains(t, r.appendErr.Error(), "remove it")
			}
			if tt.readErr != "" {
				require.ErrorContains(t, r.readErr, tt.readErr)
			} else {
				require.NoError(t, r.readErr)
				require.NotEmpty(t, r.res.Bad, "the skipped file is reported")
				assert.Contains(t, strings.Join(r.res.Bad, "\n"), tt.file)
				if tt.appendOK {
					var msgs []string
					for _, e := range r.res.Events {
						msgs = append(msgs, e.Message)
					}
					assert.Equal(t, []string{"before", "after"}, msgs, "the rest of the journal is read")
				}
			}
			if victim != "" {
				got, err := os.ReadFile(victim)
				require.NoError(t, err)
				assert.Equal(t, "precious\n", string(got), "the link's target is untouched")
			}
		})
	}
}
