package sim_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tinyprof/tinyprof/device"
	"github.com/tinyprof/tinyprof/device/sim"
	"github.com/tinyprof/tinyprof/firmware"
)

// pipeDevice is a simulated board on an in-memory connection with the
// built-in model loaded.
func pipeDevice(t *testing.T, opts sim.Options) *device.Device {
	t.Helper()
	dev, _ := openPipe(t, opts)
	loadTiny(t, dev)
	return dev
}

func TestHeapModel(t *testing.T) {
	t.Run("default is silent", func(t *testing.T) {
		h := sim.NewHeapModel(sim.Options{})
		for range 100 {
			h.Generate()
			require.Zero(t, h.InUse())
			require.Zero(t, h.Fragmented())
		}
	})
	t.Run("leak, step and fragmentation", func(t *testing.T) {
		h := sim.NewHeapModel(sim.Options{Faults: sim.Faults{LeakPerGenerate: 8, HeapStep: 4096, HeapStepAt: 3, FragmentPerGenerate: 16}})
		var held []int64
		for range 5 {
			h.Generate()
			held = append(held, h.Held())
		}
		assert.Equal(t, []int64{8, 16, 24 + 4096, 32 + 4096, 40 + 4096}, held)
		assert.Equal(t, int64(80), h.Fragmented())
		assert.Equal(t, int64(1000/8*7-80), h.LargestFree(1000))
	})
	t.Run("noise is bounded, transient and deterministic", func(t *testing.T) {
		a := sim.NewHeapModel(sim.Options{Seed: 3, Faults: sim.Faults{HeapNoise: 512}})
		b := sim.NewHeapModel(sim.Options{Seed: 3, Faults: sim.Faults{HeapNoise: 512}})
		bursts := 0
		for range 2000 {
			a.Generate()
			b.Generate()
			require.Equal(t, a.Transient(), b.Transient())
			require.Zero(t, a.Held())
			require.Zero(t, a.Transient()%8)
			require.LessOrEqual(t, a.Transient(), int64(5*512))
			if a.Transient() > 512 {
				bursts++
			}
		}
		assert.Positive(t, bursts, "bursts happen")
		assert.Less(t, bursts, 2000/16, "bursts are rare")
	})
}

func TestStopAfterTokens(t *testing.T) {
	dev := pipeDevice(t, sim.Options{Faults: sim.Faults{StopAfterTokens: 5}})
	g, err := dev.Generate(t.Context(), device.GenerateRequest{MaxTokens: 16})
	require.NoError(t, err)
	assert.Len(t, g.Tokens, 5)
	assert.Equal(t, firmware.StopEOS, g.Summary.Stop)
}

func TestJitterAndStalls(t *testing.T) {
	itl := func(opts sim.Options, seed uint32) []int64 {
		g, err := pipeDevice(t, opts).Generate(t.Context(), device.GenerateRequest{MaxTokens: 21, Seed: seed})
		require.NoError(t, err)
		var out []int64
		for _, d := range g.InterTokenLatencies() {
			out = append(out, d.Microseconds())
		}
		return out
	}
	plain := itl(sim.Options{}, 1)
	jit := itl(sim.Options{Jitter: 0.05}, 1)
	assert.Equal(t, jit, itl(sim.Options{Jitter: 0.05}, 1), "deterministic for a seed")
	assert.NotEqual(t, jit, itl(sim.Options{Jitter: 0.05}, 2), "another seed, other times")
	assert.NotEqual(t, plain, jit)
	for i := range plain {
		assert.InEpsilon(t, plain[i], jit[i], 0.051)
	}
	stall := itl(sim.Options{Faults: sim.Faults{StallEvery: 5, StallFactor: 2}}, 1)
	for i := range plain {
		// Gap i ends at token i+1; tokens 5, 10, … (1-based) stall.
		if (i+2)%5 == 0 {
			assert.InEpsilon(t, 2*plain[i], stall[i], 0.01, "gap %d", i)
		} else {
			assert.Equal(t, plain[i], stall[i], "gap %d", i)
		}
	}
}
