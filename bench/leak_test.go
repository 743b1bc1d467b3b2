package bench_test

import (
	"bytes"
	"context"
	"encoding/xml"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tinyprof/tinyprof/bench"
	"github.com/tinyprof/tinyprof/device"
	"github.com/tinyprof/tinyprof/device/sim"
	"github.com/tinyprof/tinyprof/fixtures"
)

// Leak-check scenario sizes: the quality bar.
const (
	seeds      = 200
	iterations = 200
	warmup     = 5
	heapBase   = 300 << 10 // free heap of an idle board, bytes
	noise      = 512       // modelled allocation noise, bytes
)

// modelSeries is the free-heap series a simulated board with opts reports
// after each of warmup+n generations, less the warm-up: the sim's own heap
// model, without the protocol (TestModelSeriesMatchesBoard checks the two
// agree).
func modelSeries(opts sim.Options, n int) []bench.HeapSample {
	h := sim.NewHeapModel(opts)
	var out []bench.HeapSample
	for i := range warmup + n {
		h.Generate()
		if i < warmup {
			continue
		}
		free := heapBase - h.InUse()
		out = append(out, bench.HeapSample{Iteration: i, FreeHeap: free, LargestFree: h.LargestFree(free)})
	}
	return out
}

// stepAt places seed's one-off step somewhere in the measured iterations.
func stepAt(seed int) int { return warmup + 10 + (seed*37)%(iterations-20) }

// TestLeakDetectionQuality measures the leak check over 200 seeds of the
// simulated board's heap model with allocation noise (up to 512 B held
// after a generation, bursts of up to 2 KiB) and asserts the bar:
// a leak of 8 B per iteration over 200 iterations is caught for at least
// 95% of seeds, and boards that do not leak but show noise and a one-off
// step raise no alarm for at least 99% of seeds.
func TestLeakDetectionQuality(t *testing.T) {
	type scenario struct {
		name   string
		faults func(seed int) sim.Faults
		leaks  bool
		frag   bool
		rate   int // true loss in bytes per iteration
	}
	scenarios := []scenario{
		{"leak 8 B/iteration", func(int) sim.Faults { return sim.Faults{LeakPerGenerate: 8, HeapNoise: noise} }, true, false, 8},
		{"leak 8 B/iteration and a 4 KiB step", func(s int) sim.Faults {
			return sim.Faults{LeakPerGenerate: 8, HeapNoise: noise, HeapStep: 4096, HeapStepAt: stepAt(s)}
		}, true, false, 8},
		{"leak 8 B/iteration from iteration 100", nil, true, false, 0},
		{"noise only", func(int) sim.Faults { return sim.Faults{HeapNoise: noise} }, false, false, 0},
		{"noise and a 4 KiB step", func(s int) sim.Faults { return sim.Faults{HeapNoise: noise, HeapStep: 4096, HeapStepAt: stepAt(s)} }, false, false, 0},
		{"noise and a 1 KiB step", func(s int) sim.Faults { return sim.Faults{HeapNoise: noise, HeapStep: 1024, HeapStepAt: stepAt(s)} }, false, false, 0},
		{"fragmentation, no leak", func(int) sim.Faults { return sim.Faults{HeapNoise: noise, FragmentPerGenerate: 16} }, false, true, 0},
	}
	for _, sc := range scenarios {
		t.Run(sc.name, func(t *testing.T) {
			t.Parallel()
			alarms, frags, startErr, covered := 0, 0, 0, 0
			for seed := 1; seed <= seeds; seed++ {
				var series []bench.HeapSample
				if sc.faults == nil {
					// A leak that begins late: a clean board whose series
					// then leaks 8 B per iteration from iteration 100 on.
					series = modelSeries(sim.Options{Seed: uint64(seed), Faults: sim.Faults{HeapNoise: noise}}, iterations)
					for i := range series {
						if it := series[i].Iteration; it >= 100 {
							series[i].FreeHeap -= int64(8 * (it - 99))
						}
					}
				} else {
					series = modelSeries(sim.Options{Seed: uint64(seed), Faults: sc.faults(seed)}, iterations)
				}
				rep, err := bench.AnalyzeLeaks(series)
				require.NoError(t, err)
				if rep.Leak {
					alarms++
					if sc.faults == nil && (rep.TrendStart < 80 || rep.TrendStart > 120) {
						startErr++
					}
				}
				if rep.Fragmented {
					frags++
				}
				if rate := float64(sc.rate); rep.Loss.Lo <= rate && rate <= rep.Loss.Hi {
					covered++
				}
				if testing.Verbose() && rep.Leak != sc.leaks {
					t.Logf("seed %d: %s", seed, rep)
				}
			}
			t.Logf("%s: leak reported for %d of %d seeds, fragmentation for %d, interval covers the true rate for %d", sc.name, alarms, seeds, frags, covered)
			if sc.faults != nil {
				// The 99% interval is exact without steps; sizing a step
				// adds error it only approximates (bench.widen).
				assert.GreaterOrEqual(t, covered, seeds*90/100, "interval coverage")
			}
			if sc.leaks {
				assert.GreaterOrEqual(t, alarms, seeds*95/100, "detection rate below 95%")
			} else {
				assert.LessOrEqual(t, alarms, seeds*1/100, "false alarm rate above 1%")
			}
			if sc.frag {
				assert.GreaterOrEqual(t, frags, seeds*95/100, "fragmentation missed")
			}
			assert.LessOrEqual(t, startErr, seeds*5/100, "trend start misplaced")
		})
	}
}

// TestModelSeriesMatchesBoard checks that the series the quality test
// analyses is what a simulated board reports through the protocol.
func TestModelSeriesMatchesBoard(t *testing.T) {
	const n = 30
	model := fixtures.Llama2C(fixtures.Stories260K, fixtures.Seed)
	for _, seed := range []uint64{1, 7} {
		opts := sim.Options{Seed: seed, Faults: sim.Faults{LeakPerGenerate: 8, HeapNoise: noise, HeapStep: 4096, HeapStepAt: 12, FragmentPerGenerate: 4}}
		dev := pipeBoard(t, opts)
		_, err := dev.LoadModel(t.Context(), strings.NewReader(string(model)), int64(len(model)), device.LoadOptions{})
		require.NoError(t, err)
		m0, err := dev.Metrics(t.Context())
		require.NoError(t, err)
		want := modelSeries(opts, n)
		for i := range warmup + n {
			_, err := dev.Generate(t.Context(), device.GenerateRequest{MaxTokens: 2, Seed: uint32(i)})
			require.NoError(t, err)
			m, err := dev.Metrics(t.Context())
			require.NoError(t, err)
			if i < warmup {
				continue
			}
			w := want[i-warmup]
			// The model's series starts from heapBase; the board's from
			// its free heap with the model loaded.
			assert.Equal(t, int64(m0.FreeHeap)-(heapBase-w.FreeHeap), int64(m.FreeHeap), "seed %d iteration %d", seed, i)
			free := int64(m.FreeHeap)
			assert.Equal(t, sim.NewHeapModel(opts).LargestFree(free)-int64(4*(i+1)), int64(m.LargestFree), "seed %d iteration %d", seed, i)
		}
	}
}

// pipeBoard is a simulated board on an in-memory connection, closed when
// the test ends.
func pipeBoard(tb testing.TB, opts sim.Options) *device.Device {
	tb.Helper()
	tr, b, err := sim.Pipe(opts)
	require.NoError(tb, err)
	dev := device.New(tr, device.Options{})
	tb.Cleanup(func() { dev.Close(); b.Close() })
	_, err = dev.Hello(tb.Context())
	require.NoError(tb, err)
	return dev
}

// ptyBoard is a simulated board behind a pseudo-terminal, opened through
// the real serial client.
func ptyBoard(tb testing.TB, opts sim.Options) *device.Device {
	tb.Helper()
	b := sim.Start(tb, opts)
	dev, err := device.Open(tb.Context(), b.Path, device.Options{})
	require.NoError(tb, err)
	tb.Cleanup(func() { dev.Close() })
	return dev
}

// recordTB records failures instead of failing the test, so that a test
// can check CheckLeaks fails. Fatal does not stop the goroutine:
// CheckLeaks returns after it.
type recordTB struct {
	testing.TB
	mu     sync.Mutex
	errors []string
	logs   []string
}

func (r *recordTB) Helper() {}
func (r *recordTB) Errorf(f string, a ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.errors = append(r.errors, fmt.Sprintf(f, a...))
}
func (r *recordTB) Fatalf(f string, a ...any) { r.Errorf(f, a...) }
func (r *recordTB) Fatal(a ...any)            { r.Errorf("%s", fmt.Sprint(a...)) }
func (r *recordTB) Logf(f string, a ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.logs = append(r.logs, fmt.Sprintf(f, a...))
}

// TestCheckLeaksEndToEnd runs CheckLeaks through the real serial stack on a
// pty: a leaking board fails with a report and an artifact, a board with
// noise, a step and fragmentation passes and logs the fragmentation, and a
// board that resets mid-check is a fatal error.
func TestCheckLeaksEndToEnd(t *testing.T) {
	model := fixtures.Llama2C(fixtures.Stories260K, fixtures.Seed)
	tests := []struct {
		name     string
		faults   sim.Faults
		wantErr  string
		wantLog  string
		wantLeak bool
	}{
		{"leak", sim.Faults{LeakPerGenerate: 8, HeapNoise: noise}, "heap leak (simulated board", "heap series in", true},
		{"no leak", sim.Faults{HeapNoise: noise, HeapStep: 4096, HeapStepAt: 40, FragmentPerGenerate: 16}, "", "fragmentation", false},
		{"reset", sim.Faults{ResetAfterTokens: 2}, "board", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dev := ptyBoard(t, sim.Options{Faults: tt.faults})
			_, err := dev.LoadModel(t.Context(), strings.NewReader(string(model)), int64(len(model)), device.LoadOptions{})
			require.NoError(t, err)
			rec := &recordTB{TB: t}
			rep := bench.CheckLeaks(rec, dev, bench.GenerateWorkload(dev, device.GenerateRequest{MaxTokens: 4}), bench.Iterations(100))
			if tt.wantErr == "" {
				assert.Empty(t, rec.errors)
			} else {
				require.Len(t, rec.errors, 1)
				assert.Contains(t, rec.errors[0], tt.wantErr)
				t.Log(rec.errors[0])
			}
			if tt.wantLog != "" {
				assert.Contains(t, strings.Join(rec.logs, "\n"), tt.wantLog)
			}
			if tt.name == "reset" {
				assert.Nil(t, rep)
				return
			}
			require.NotNil(t, rep)
			assert.Equal(t, tt.wantLeak, rep.Leak)
			assert.True(t, rep.Simulated)
			if rep.Leak {
				assert.InDelta(t, 8, rep.Loss.Center, 1.5)
				_, err := os.Stat(filepath.Join(t.ArtifactDir(), "heap.csv"))
				assert.NoError(t, err)
				svg, err := os.ReadFile(filepath.Join(t.ArtifactDir(), "heap.svg"))
				require.NoError(t, err)
				assert.Contains(t, string(svg), "simulated: modelled, not measured")
				assert.Equal(t, 2, strings.Count(string(svg), "<polyline"), "free heap and largest block")
				d := xml.NewDecoder(bytes.NewReader(svg))
				for {
					_, err := d.Token()
					if err == io.EOF {
						break
					}
					require.NoError(t, err, "heap.svg is well-formed XML")
				}
			} else {
				assert.True(t, rep.Fragmented)
				require.Len(t, rep.Steps, 1)
				assert.Equal(t, 39, rep.Steps[0].Iteration) // generation 40 is iteration 39: iterations count from 0
				assert.InDelta(t, 4096, rep.Steps[0].Bytes, 256)
			}
		})
	}
}

// TestAnalyzeLeaksBadInput checks the analysis refuses what it cannot judge.
func TestAnalyzeLeaksBadInput(t *testing.T) {
	short := make([]bench.HeapSample, 5)
	_, err := bench.AnalyzeLeaks(short)
	assert.ErrorContains(t, err, "too few")
	long := make([]bench.HeapSample, bench.MaxLeakIterations+1)
	_, err = bench.AnalyzeLeaks(long)
	assert.ErrorContains(t, err, "run fewer iterations")
	_, err = bench.AnalyzeLeaks(make([]bench.HeapSample, 20), bench.LeakConfidence(1))
	assert.ErrorContains(t, err, "confidence")
}

// TestAnalyzeLeaksLumps checks that memory lost in many steps is a leak.
func TestAnalyzeLeaksLumps(t *testing.T) {
	series := modelSeries(sim.Options{Faults: sim.Faults{HeapNoise: noise}}, iterations)
	for i := range series {
		series[i].FreeHeap -= int64(4096 * (series[i].Iteration / 40)) // 4 KiB every 40 iterations
	}
	rep, err := bench.AnalyzeLeaks(series)
	require.NoError(t, err)
	assert.True(t, rep.Leak)
	assert.True(t, rep.Lumps)
	assert.Contains(t, rep.String(), "separate steps")
}

var _ = context.Background
