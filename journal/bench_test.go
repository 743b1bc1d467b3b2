package journal

import (
	"testing"
	"time"
)

// BenchmarkAppend measures one durable append: lock, write, fsync.
func BenchmarkAppend(b *testing.B) {
	j := open(b, Options{})
	ctx := b.Context()
	e := Event{Kind: KindConnect, Board: "sim-a", Details: map[string]any{"ok": true}}
	for b.Loop() {
		if err := j.Append(ctx, e); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkReadReport reads 10,000 events and builds a report over them.
func BenchmarkReadReport(b *testing.B) {
	j := open(b, Options{})
	ctx := b.Context()
	var evs []Event
	for i := range 10_000 {
		evs = append(evs, Event{Time: t0.Add(time.Duration(i) * time.Second), Kind: KindConnect, Board: "sim-a", Details: map[string]any{"ok": i%50 != 0}})
	}
	if err := j.Append(ctx, evs...); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		res, err := j.Read(ctx, Query{})
		if err != nil {
			b.Fatal(err)
		}
		BuildReport(res, t0, t0.Add(3*time.Hour))
	}
}
