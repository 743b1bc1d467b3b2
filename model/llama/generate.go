package llama

import (
	"context"
	"fmt"
)

// PromptTokens returns the tokens the runtime feeds for prompt: BOS
// (1 % vocab) and then each byte b as token b % vocab. The device has no
// tokenizer; this rule is the one the C runtime and its agent port use, so
// both sides run the same sequence.
func PromptTokens(prompt []byte, vocab int) []uint32 {
	ids := make([]uint32, 0, len(prompt)+1)
	ids = append(ids, uint32(1%vocab))
	for _, b := range prompt {
		ids = append(ids, uint32(int(b)%vocab))
	}
	return ids
}

// Options configure Generate.
type Options struct {
	// MaxTokens is the most tokens to generate. Generation also stops when
	// the context is full: after the prompt's n tokens, at most
	// Context-n+1 tokens fit (the last is sampled but never run). It does
	// not stop at an end-of-sequence token.
	MaxTokens int
	// Context is the KV cache length; 0 means the model's sequence length.
	Context int
	// Temperature, TopP, TopK and Seed configure the Sampler; Temperature 0
	// is greedy. A protocol request's permille p is float32(p)/1000.
	Temperature, TopP float32
	TopK              int
	Seed              uint32
	// Step, if set, sees each step's logits before the token is sampled
	// from them. It must not retain or modify the slice.
	Step func(logits []float32)
}

// Generate runs the prompt (see PromptTokens) and returns up to
// opts.MaxTokens generated tokens. It checks ctx between tokens. A prompt
// that does not fit the context wraps ErrArg.
func (m *Model) Generate(ctx context.Context, prompt []byte, opts Options) ([]uint32, error) {
	r := m.NewRunner(opts.Context)
	ids := PromptTokens(prompt, m.cfg.Vocab)
	if len(ids) > r.ctx {
		return nil, fmt.Errorf("%w: prompt of %d tokens (BOS included) does not fit a context of %d", ErrArg, len(ids), r.ctx)
	}
	var logits []float32
	for pos, id := range ids {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		var err error
		if logits, err = r.Forward(id, pos); err != nil {
			return nil, err
		}
	}
	s := NewSampler(opts.Temperature, opts.TopP, opts.TopK, opts.Seed)
	var out []uint32
	for pos := len(ids); len(out) < opts.MaxTokens; pos++ {
		if opts.Step != nil {
			opts.Step(logits)
		}
		tok := s.Sample(logits)
		out = append(out, tok)
		if len(out) == opts.MaxTokens || pos >= r.ctx {
			break
		}
		if err := ctx.Err(); err != nil {
			return out, err
		}
		var err error
		if logits, err = r.Forward(tok, pos); err != nil {
			return out, err
		}
	}
	return out, nil
}
