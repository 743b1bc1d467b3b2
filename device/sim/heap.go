package sim

import "math/rand/v2"

// HeapModel is the simulated board's model of what happens to its internal
// heap between generations, beyond the generation's own buffers (which are
// always freed):
//
//   - a leak: Faults.LeakPerGenerate bytes lost for good every generation;
//   - a one-off step: Faults.HeapStep bytes taken for good once, at
//     generation Faults.HeapStepAt, as a cache that fills once would;
//   - allocation noise: after each generation up to Faults.HeapNoise bytes
//     (a multiple of 8, uniform) are still held by the allocator and other
//     tasks, and one generation in 32 holds a burst of up to four times
//     that; both are given back by the next generation;
//   - fragmentation: the largest free block shrinks by
//     Faults.FragmentPerGenerate bytes every generation while the free total
//     stays put.
//
// A Board runs one HeapModel; NewHeapModel gives the same model on its own,
// so that statistics on free-heap series (bench.AnalyzeLeaks) can be tested
// over many seeds without the protocol. The noise is deterministic for
// Options.Seed. A HeapModel is not safe for concurrent use.
type HeapModel struct {
	f           Faults
	rng         *rand.Rand // only drawn from when HeapNoise > 0
	generations int
	held        int64 // lost for good: leak and step
	transient   int64 // held until the next generation
	fragmented  int64
}

// burstEvery is the mean number of generations between noise bursts.
const burstEvery = 32

// NewHeapModel returns the heap model a board with opts runs (only
// opts.Seed and opts.Faults matter), before its first generation.
func NewHeapModel(opts Options) *HeapModel {
	seed := opts.Seed
	if seed == 0 {
		seed = 1
	}
	// A stream of its own, so that switching noise on leaves boot ids and
	// token ids unchanged.
	return &HeapModel{f: opts.Faults, rng: rand.New(rand.NewPCG(seed, 0x6865_6170_6e6f_6973))}
}

// Generate advances the model by one finished generation.
func (h *HeapModel) Generate() {
	h.generations++
	h.held += int64(max(0, h.f.LeakPerGenerate))
	at := max(h.f.HeapStepAt, 1)
	if h.f.HeapStep != 0 && h.generations == at {
		h.held += int64(h.f.HeapStep)
	}
	h.fragmented += int64(max(0, h.f.FragmentPerGenerate))
	h.transient = 0
	if n := int64(h.f.HeapNoise) / 8; n > 0 {
		h.transient = 8 * h.rng.Int64N(n+1)
		if h.rng.IntN(burstEvery) == 0 {
			h.transient += 8 * h.rng.Int64N(4*n+1)
		}
	}
}

// Generations returns how many generations the model has seen.
func (h *HeapModel) Generations() int { return h.generations }

// Held returns the bytes held for good: leaked, or taken by the step.
func (h *HeapModel) Held() int64 { return h.held }

// Transient returns the bytes of noise held now, until the next generation.
func (h *HeapModel) Transient() int64 { return h.transient }

// Fragmented returns how much the largest free block has shrunk.
func (h *HeapModel) Fragmented() int64 { return h.fragmented }

// InUse returns Held plus Transient: what the model takes from the heap now.
func (h *HeapModel) InUse() int64 { return h.held + h.transient }

// LargestFree returns the largest free block for free bytes free, as the
// simulated board reports it: 7/8 of what is free (a modelled allocator
// overhead), less the fragmentation.
func (h *HeapModel) LargestFree(free int64) int64 {
	return max(0, free/8*7-h.fragmented)
}

// reboot models a restart: the heap is whole again; the noise stream goes
// on.
func (h *HeapModel) reboot() {
	h.generations, h.held, h.transient, h.fragmented = 0, 0, 0, 0
}
