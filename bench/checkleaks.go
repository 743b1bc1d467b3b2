package bench

import (
	"encoding/csv"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/tinyprof/tinyprof/internal/atomicfile"
)

// CheckLeaks runs workload on dev for a warm-up (Warmup, default 5) and
// then Iterations (default 200) more, reading the board's free heap and
// largest free block after each, and fails t with a leak report when the
// free heap falls by more than the tolerance per iteration (see
// AnalyzeLeaks): bytes per iteration with its interval, the total, the
// iteration where the trend starts. One-off steps are taken out and named,
// not counted; fragmentation is logged apart and does not fail t. When it
// finds either, the series is written to t.ArtifactDir() as heap.csv and
// heap.svg.
//
// A board that resets or a workload that fails ends the check with
// t.Fatal: a reset frees the heap, so the series would hide a leak. It
// returns the report (nil after a fatal error in a TB that does not stop
// the goroutine). It honours Iterations, Warmup, Tolerance, LeakConfidence
// and MaxSteps.
func CheckLeaks(t testing.TB, dev Device, workload Workload, opts ...Option) *LeakReport {
	t.Helper()
	s := newSettings(opts)
	if s.iterations < minLeakIterations || s.iterations > MaxLeakIterations {
		t.Fatalf("bench.CheckLeaks: Iterations(%d) must be between %d and %d", s.iterations, minLeakIterations, MaxLeakIterations)
		return nil
	}
	info := dev.Info()
	if info == nil {
		t.Fatal("bench.CheckLeaks: the board has not answered Hello: call Hello first (device.Open and hwtest.Lease do)")
		return nil
	}
	ctx := t.Context()
	m, err := dev.Metrics(ctx)
	if err != nil {
		t.Fatalf("bench.CheckLeaks: read the board's metrics: %v", err)
		return nil
	}
	uptime := m.UptimeUS
	series := make([]HeapSample, 0, s.iterations)
	for i := 0; i < s.warmup+s.iterations; i++ {
		if err := workload(ctx, i); err != nil {
			t.Fatalf("bench.CheckLeaks: iteration %d: %v", i, err)
			return nil
		}
		m, err := dev.Metrics(ctx)
		if err != nil {
			t.Fatalf("bench.CheckLeaks: metrics after iteration %d: %v", i, err)
			return nil
		}
		if m.UptimeUS < uptime {
			t.Fatalf("bench.CheckLeaks: the board reset during iteration %d (uptime went back from %d µs to %d µs): a reset frees the heap and would hide a leak; check its power and log", i, uptime, m.UptimeUS)
			return nil
		}
		uptime = m.UptimeUS
		if i >= s.warmup {
			series = append(series, HeapSample{Iteration: i, UptimeUS: m.UptimeUS, FreeHeap: int64(m.FreeHeap), LargestFree: int64(m.LargestFree)})
		}
	}
	rep, err := AnalyzeLeaks(series, opts...)
	if err != nil {
		t.Fatalf("bench.CheckLeaks: %v", err)
		return nil
	}
	rep.Simulated = info.Capabilities.Simulated()
	if rep.Leak || rep.Fragmented {
		dir := t.ArtifactDir()
		if err := writeHeapArtifacts(dir, rep); err != nil {
			t.Logf("bench.CheckLeaks: could not write the series: %v", err)
		} else {
			t.Logf("bench.CheckLeaks: heap series in %s", filepath.Join(dir, "heap.csv"))
		}
	}
	switch {
	case rep.Leak:
		t.Errorf("bench.CheckLeaks: %s", rep)
	case rep.Fragmented:
		t.Logf("bench.CheckLeaks: not a leak, but %s", rep)
	}
	return rep
}

// writeHeapArtifacts writes the series as heap.csv and a chart as
// heap.svg in dir.
func writeHeapArtifacts(dir string, rep *LeakReport) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	err := atomicfile.Write(filepath.Join(dir, "heap.csv"), 0o644, func(f io.Writer) error {
		w := csv.NewWriter(f)
		w.Write([]string{"iteration", "uptime_us", "free_heap_bytes", "largest_free_block_bytes"})
		for _, s := range rep.Series {
			w.Write([]string{strconv.Itoa(s.Iteration), strconv.FormatUint(s.UptimeUS, 10),
				strconv.FormatInt(s.FreeHeap, 10), strconv.FormatInt(s.LargestFree, 10)})
		}
		w.Flush()
		return w.Error()
	})
	if err != nil {
		return err
	}
	return atomicfile.Write(filepath.Join(dir, "heap.svg"), 0o644, func(f io.Writer) error {
		return writeLeakChart(f, rep)
	})
}
