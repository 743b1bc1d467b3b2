package report_test

import (
	"bytes"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tinyprof/tinyprof/bench/report"
	"github.com/tinyprof/tinyprof/device"
	"github.com/tinyprof/tinyprof/device/sim"
	"github.com/tinyprof/tinyprof/fixtures"
	"github.com/tinyprof/tinyprof/platform"
	"github.com/tinyprof/tinyprof/power/powermodel"
)

// TestProfileSamplesMemoryDuringGeneration profiles a board that generates
// in (scaled) real time, so that memory reads land inside the generations:
// they show the generation's buffers held, the report and its chart mark
// them, and the board's power readings, split by them, still add up to
// the energy the simulator dissipated in each run.
func TestProfileSamplesMemoryDuringGeneration(t *testing.T) {
	b := sim.Start(t, sim.Options{Platform: "esp32s3", TimeScale: 0.25})
	dev, err := device.Open(t.Context(), b.Path, device.Options{})
	require.NoError(t, err)
	t.Cleanup(func() { dev.Close() })
	model := fixtures.Llama2C(fixtures.Stories260K, fixtures.Seed)

	// 16 tokens at about 19 tok/s: about 0.2 s of real time per run.
	rep, err := report.Profile(t.Context(), dev, bytes.NewReader(model), int64(len(model)),
		report.Config{Runs: 3, Warmup: -1, Tokens: 16, SampleEvery: 10 * time.Millisecond})
	require.NoError(t, err)
	require.Len(t, rep.Runs, 3)

	m := rep.Memory
	require.NotZero(t, m.SamplesDuring, "reads every 10 ms over three 0.2 s generations")
	assert.Less(t, m.MinFreeHeapDuring, m.FreeHeapBefore, "the KV cache and activations are held during a generation")
	assert.Equal(t, m.FreeHeapBefore, m.FreeHeapAfter, "and freed after it")
	during := 0
	for i, s := range m.Series {
		require.True(t, s.Run >= 1 && s.Run <= 3, "sample %d of run %d", i, s.Run)
		if i > 0 {
			assert.GreaterOrEqual(t, s.UptimeSeconds, m.Series[i-1].UptimeSeconds, "the series is in board time")
		}
		if s.During {
			during++
			assert.Less(t, s.FreeHeap, m.FreeHeapBefore, "sample %d", i)
		} else {
			assert.Equal(t, m.FreeHeapBefore, s.FreeHeap, "sample %d, after its generation", i)
		}
	}
	assert.Equal(t, m.SamplesDuring, during)
	for _, r := range rep.Runs {
		assert.Equal(t, m.FreeHeapAfter, r.FreeHeapAfter)
		if r.SamplesDuring > 0 {
			assert.Less(t, r.MinFreeHeapDuring, r.FreeHeapAfter)
		}
	}

	// Each run's board energy against the simulator's own integral, from
	// the previous run's last reading to this run's.
	last := map[int]float64{}
	for _, s := range m.Series {
		last[s.Run] = s.UptimeSeconds
	}
	for k := 2; k <= 3; k++ {
		e := rep.Runs[k-1].Energy
		require.NotNil(t, e, "run %d: the simulated esp32s3 reports its power", k)
		want, err := b.Energy(uint64(last[k-1]*1e6+0.5), uint64(last[k]*1e6+0.5))
		require.NoError(t, err)
		assert.InEpsilon(t, float64(want), e.Joules, 1e-3, "run %d", k)
	}

	var text bytes.Buffer
	require.NoError(t, rep.WriteTable(&text))
	assert.Contains(t, text.String(), "reads taken while the board generated")
	var out bytes.Buffer
	require.NoError(t, rep.WriteBench(&out))
	assert.Contains(t, out.String(), "min-free-heap-gen-B")
}

// TestProfileRetriedRunHasNoBoardEnergy: a run retried after a corrupted
// batch dissipated two generations' energy for one generation's tokens,
// and a run whose closing METRICS was resent after a corrupted answer has
// a reading that covers only the resend; so the board's readings give
// neither an energy figure. Every figure given covers a generation.
func TestProfileRetriedRunHasNoBoardEnergy(t *testing.T) {
	for _, every := range []int{17, 23} {
		t.Run(fmt.Sprintf("corrupt every %d", every), func(t *testing.T) {
			dev := pipeBoard(t, sim.Options{Platform: "esp32s3", Faults: sim.Faults{CorruptTxEvery: every}})
			p, err := platform.Lookup("esp32s3")
			require.NoError(t, err)
			pm, err := powermodel.Board(p)
			require.NoError(t, err)
			idle := float64(pm.Power(powermodel.Activity{}))
			model := fixtures.Llama2C(fixtures.Stories260K, fixtures.Seed)
			rep, err := report.Profile(t.Context(), dev, bytes.NewReader(model), int64(len(model)),
				report.Config{Runs: 12, Warmup: -1, Tokens: 16, SampleEvery: -1})
			require.NoError(t, err)
			without := 0
			for i, r := range rep.Runs {
				if r.Retries > 0 {
					assert.Nil(t, r.Energy, "run %d was retried", i+1)
				}
				if r.Energy == nil {
					without++
					continue
				}
				// A figure that covers a generation spans at least its
				// board time and draws more than the idle board over it
				// (the idle gaps of a loaded host dilute the average, so
				// a fixed multiple of idle power is not a bound); a
				// reading that covers only a resend spans less.
				gen := r.TTFTSeconds + r.DecodeSeconds
				assert.GreaterOrEqual(t, r.Energy.Seconds, 0.999*gen, "run %d: %v J over %v s does not span its %v s generation", i+1, r.Energy.Joules, r.Energy.Seconds, gen)
				assert.Greater(t, r.Energy.Joules, idle*r.Energy.Seconds, "run %d: %v J over %v s is no more than the idle board's", i+1, r.Energy.Joules, r.Energy.Seconds)
			}
			require.NotZero(t, without, "with every %dth frame corrupted some run loses a figure", every)
			require.NotNil(t, rep.Power, "the other runs still give one")
		})
	}
}

// TestProfileSamplingRefused: firmware that refuses reads during a
// generation is profiled all the same, and the report says why it has no
// reads from inside the generations.
func TestProfileSamplingRefused(t *testing.T) {
	dev := ptyBoard(t, sim.Options{Platform: "esp32s3", TimeScale: 0.25, Faults: sim.Faults{BusyMetrics: true}})
	model := fixtures.Llama2C(fixtures.Stories260K, fixtures.Seed)
	rep, err := report.Profile(t.Context(), dev, bytes.NewReader(model), int64(len(model)),
		report.Config{Runs: 2, Warmup: -1, Tokens: 32, SampleEvery: 10 * time.Millisecond})
	require.NoError(t, err)
	assert.True(t, rep.Memory.SamplingRefused)
	assert.Zero(t, rep.Memory.SamplesDuring)
	var text bytes.Buffer
	require.NoError(t, rep.WriteTable(&text))
	assert.Contains(t, text.String(), "firmware refused reads then")
}
