package llama

import "slices"

// RNG is xorshift32 (G. Marsaglia, "Xorshift RNGs", J. Stat. Softw. 8(14),
// 2003, shifts 13, 17, 5), the generator of the C runtime: seeded with
// seed ^ 0x9E3779B9 (0 replaced by 0x6D2B79F5), so every seed is valid.
type RNG struct{ s uint32 }

// NewRNG returns the generator for seed.
func NewRNG(seed uint32) *RNG {
	s := seed ^ 0x9E3779B9
	if s == 0 {
		s = 0x6D2B79F5
	}
	return &RNG{s}
}

// Uint32 returns the next 32 random bits.
func (r *RNG) Uint32() uint32 {
	x := r.s
	x ^= x << 13
	x ^= x >> 17
	x ^= x << 5
	r.s = x
	return x
}

// Float32 returns a uniform float in [0, 1): the top 24 bits × 2⁻²⁴.
func (r *RNG) Float32() float32 { return mul(float32(r.Uint32()>>8), 0x1p-24) }

// Sampler picks the next token from logits, the rule of the C runtime:
//
//   - Temperature ≤ 0: the index of the largest logit (the first on ties).
//   - Otherwise the logits are divided by Temperature and turned into
//     probabilities by softmax (exp(x - max) / sum).
//   - With TopK or TopP in (0, 1), the tokens are ranked by probability,
//     ties by lower id; the first TopK are kept (0: all), then the
//     shortest prefix whose running sum exceeds TopP. Otherwise all are
//     kept, in id order.
//   - A uniform u times the kept probabilities' sum picks the first kept
//     token whose running sum exceeds it (the last if rounding leaves
//     none).
//
// Sampling consumes one random number per token, none when greedy.
type Sampler struct {
	Temperature, TopP float32
	TopK              int
	rng               *RNG
	cand              []cand
	probs             []float32
}

type cand struct {
	p  float32
	id uint32
}

// NewSampler returns a Sampler seeded with seed.
func NewSampler(temperature, topP float32, topK int, seed uint32) *Sampler {
	return &Sampler{Temperature: temperature, TopP: topP, TopK: topK, rng: NewRNG(seed)}
}

// Sample returns the chosen token. It overwrites logits.
func (s *Sampler) Sample(x []float32) uint32 {
	if !(s.Temperature > 0) {
		best := 0
		for i, v := range x {
			if v > x[best] {
				best = i
			}
		}
		return uint32(best)
	}
	for i := range x {
		x[i] /= s.Temperature
	}
	softmax(x)
	topP := s.TopP > 0 && s.TopP < 1
	p := x // the kept probabilities, in id order or ranked
	if s.TopK > 0 || topP {
		s.cand = s.cand[:0]
		for i, v := range x {
			s.cand = append(s.cand, cand{v, uint32(i)})
		}
		// The order is total, so this sort and the C runtime's heapsort agree.
		slices.SortFunc(s.cand, func(a, b cand) int {
			switch {
			case a.p > b.p || (a.p == b.p && a.id < b.id):
				return -1
			case a.p == b.p && a.id == b.id:
				return 0
			}
			return 1
		})
		keep := len(s.cand)
		if s.TopK > 0 && s.TopK < keep {
			keep = s.TopK
		}
		if topP {
			var cdf float32
			for i := range keep {
				cdf += s.cand[i].p
				if cdf > s.TopP {
					keep = i + 1
					break
				}
			}
		}
		s.cand = s.cand[:keep]
		p = s.probs[:0]
		for _, c := range s.cand {
			p = append(p, c.p)
		}
		s.probs = p
	}
	var sum float32
	for _, v := range p {
		sum += v
	}
	u := mul(s.rng.Float32(), sum)
	var cdf float32
	i := 0
	for ; i < len(p); i++ {
		cdf += p[i]
		if u < cdf {
			break
		}
	}
	if i == len(p) {
		i = len(p) - 1
	}
	if s.cand != nil && (s.TopK > 0 || topP) {
		return s.cand[i].id
	}
	return uint32(i)
}
