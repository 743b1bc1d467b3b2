package sim

import (
	"fmt"

	"github.com/tinyprof/tinyprof/firmware"
	"github.com/tinyprof/tinyprof/model/llama"
)

// tokenSource produces a generation's token ids. For a model model/llama
// runs (llama2.c, or GGUF llama in F32, Q8_0 or Q4_0) they are that
// model's, by the rules of the C runtime on the boards: the prompt is BOS
// and then each byte (llama.PromptTokens), sampling is llama.Sampler with
// the request's permille values over 1000 and its seed. So a simulated
// board, the host agent and an emulated board give the same tokens for
// the same request. For any other model the simulator can price but not
// run, they are a splitmix64 stream of the board's seed, the request's
// seed and the prompt. Only the ids come from here: the time each takes,
// and the prompt's token count in GEN_DONE, stay the cost model's (one
// token per four bytes of prompt).
type tokenSource struct {
	// a real model
	r       *llama.Runner
	s       *llama.Sampler
	ids     []uint32 // the prompt's tokens, until prefilled
	logits  []float32
	pending uint32 // the last sampled token, to be run before the next
	pos     int
	started bool

	// otherwise
	rng   *tokenRNG
	vocab uint64
}

// newTokenSource returns the token source of request m on a board whose
// KV cache holds ctx positions. lm is nil for a model model/llama cannot
// run. It refuses a prompt that does not fit the context.
func newTokenSource(lm *llama.Model, boardSeed uint64, m *firmware.Generate, ctx int, vocab int64) (*tokenSource, error) {
	if lm == nil {
		return &tokenSource{rng: newTokenRNG(boardSeed, m.Seed, m.Prompt), vocab: uint64(max(1, vocab))}, nil
	}
	r := lm.NewRunner(ctx)
	ids := llama.PromptTokens([]byte(m.Prompt), lm.Config().Vocab)
	if len(ids) > r.Context() {
		return nil, fmt.Errorf("a prompt of %d tokens (BOS and one per byte) does not fit the context of %d", len(ids), r.Context())
	}
	s := llama.NewSampler(float32(m.Temperature)/1000, float32(m.TopP)/1000, int(m.TopK), m.Seed)
	return &tokenSource{r: r, s: s, ids: ids}, nil
}

// next returns the next token. The first call runs the prompt.
func (t *tokenSource) next() (uint32, error) {
	if t.r == nil {
		return uint32(t.rng.next() % t.vocab), nil
	}
	var err error
	if !t.started {
		t.started = true
		for _, id := range t.ids {
			if t.logits, err = t.r.Forward(id, t.pos); err != nil {
				return 0, err
			}
			t.pos++
		}
	} else {
		if t.logits, err = t.r.Forward(t.pending, t.pos); err != nil {
			return 0, err
		}
		t.pos++
	}
	t.pending = t.s.Sample(t.logits)
	return t.pending, nil
}
