package llama

import (
	"cmp"
	"context"
	"fmt"
	"math"
	"sync"
)

// Quality is how closely a model follows a reference model on a text,
// both teacher-forced: each position is given the text's own previous
// tokens, whatever either model would have generated.
type Quality struct {
	// Positions is the number of next tokens scored: the text's prompt
	// tokens (PromptTokens), cut to the shorter context, less one.
	Positions int `json:"positions"`
	// Agreement is the fraction of positions at which the two models'
	// greedy choices (the largest logit, the lowest id on ties) are the
	// same token.
	Agreement float64 `json:"next_token_agreement"`
	// Perplexity and ReferencePerplexity are exp of the mean negative log
	// probability each model gives the text's next tokens.
	Perplexity          float64 `json:"perplexity"`
	ReferencePerplexity float64 `json:"reference_perplexity"`
}

// Compare runs ref and m over text and returns their agreement and
// perplexities. The models must share vocabulary and their first
// positions; the text is cut to fit the shorter context. It costs two
// forward passes per position, run on two goroutines, and two KV caches,
// and checks ctx between positions.
func Compare(ctx context.Context, ref, m *Model, text []byte) (*Quality, error) {
	if ref.cfg.Vocab != m.cfg.Vocab {
		return nil, fmt.Errorf("%w: vocabularies differ (%d and %d tokens); compare a model with its own quantization", ErrArg, ref.cfg.Vocab, m.cfg.Vocab)
	}
	toks := PromptTokens(text, m.cfg.Vocab)
	n := min(len(toks), ref.cfg.SeqLen, m.cfg.SeqLen)
	if n < 2 {
		return nil, fmt.Errorf("%w: the text gives %d tokens; at least 2 are needed to score one", ErrArg, n)
	}
	// The two passes are independent: run them side by side, each
	// recording its greedy choice and the text's log probability per
	// position. Both goroutines end before Compare returns.
	type pass struct {
		top []int
		nll float64
		err error
	}
	score := func(mod *Model, p *pass) {
		r := mod.NewRunner(n)
		p.top = make([]int, n-1)
		for pos := range n - 1 {
			if p.err = ctx.Err(); p.err != nil {
				return
			}
			l, err := r.Forward(toks[pos], pos)
			if err != nil {
				p.err = err
				return
			}
			p.top[pos] = argmax(l)
			p.nll -= logProb(l, toks[pos+1])
		}
	}
	var pr, pm pass
	var wg sync.WaitGroup
	wg.Go(func() { score(ref, &pr) })
	score(m, &pm)
	wg.Wait()
	if err := cmp.Or(pr.err, pm.err); err != nil {
		return nil, err
	}
	q := &Quality{Positions: n - 1}
	var agree int
	for i, t := range pr.top {
		if pm.top[i] == t {
			agree++
		}
	}
	nllRef, nll := pr.nll, pm.nll
	if math.IsNaN(nll+nllRef) || math.IsInf(nll+nllRef, 0) {
		return nil, fmt.Errorf("%w: a model gives non-finite logits on the text", ErrUnsupported)
	}
	k := float64(q.Positions)
	q.Agreement = float64(agree) / k
	q.Perplexity = math.Exp(nll / k)
	q.ReferencePerplexity = math.Exp(nllRef / k)
	return q, nil
}

// argmax returns the index of the largest value, the lowest on ties.
func argmax(x []float32) int {
	best := 0
	for i, v := range x {
		if v > x[best] {
			best = i
		}
	}
	return best
}

// logProb returns log softmax(x)[i], in float64 (a report, not a value the
// runtimes must reproduce).
func logProb(x []float32, i uint32) float64 {
	mx := float64(x[argmax(x)])
	var s float64
	for _, v := range x {
		s += math.Exp(float64(v) - mx)
	}
	return float64(x[i]) - mx - math.Log(s)
}
