package conformance

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/tinyprof/tinyprof/firmware"
)

// maxBatch is the most tokens a TOKENS frame may carry (PROTOCOL.md §3.3).
const maxBatch = 16

// timingSlackUS is how far GEN_DONE's timings may stray from the token
// timestamps: a device may take them from separate clock reads.
const timingSlackUS = 1000

// generation is what a device sent for one GENERATE.
type generation struct {
	seq     uint16 // the GENERATE's
	tokens  []firmware.Token
	done    *firmware.GenDone
	metrics *firmware.Metrics // the answer to a GET_METRICS sent during it
}

// generate runs g and collects its TOKENS and GEN_DONE. If cancelAfter is
// positive it sends CANCEL once that many tokens have arrived.
func (s *session) generate(ctx context.Context, g *firmware.Generate, cancelAfter int) (generation, error) {
	return s.generateSampled(ctx, g, cancelAfter, false)
}

// generateSampled is generate that, if sample is set, also sends
// GET_METRICS with the GENERATE's seq after the first batch (PROTOCOL.md
// §3.5) and requires its METRICS, between the tokens or after GEN_DONE.
func (s *session) generateSampled(ctx context.Context, g *firmware.Generate, cancelAfter int, sample bool) (generation, error) {
	var out generation
	seq, err := s.send(g)
	if err != nil {
		return out, err
	}
	out.seq = seq
	deadline := time.Now().Add(s.opts.GenerateTimeout)
	cancelled, asked := false, false
	for {
		m, err := s.frame(ctx, seq, time.Until(deadline))
		if err != nil {
			return out, fmt.Errorf("GENERATE (seq %d) after %d tokens: %w", seq, len(out.tokens), err)
		}
		if e, ok := m.(*firmware.Error); ok && asked && out.metrics == nil && e.Request == firmware.TypeGetMetrics {
			return out, fmt.Errorf("GET_METRICS sent during the generation (seq %d) answered with %s, want METRICS between two tokens (PROTOCOL.md §3.5)", seq, describe(m))
		}
		switch m := m.(type) {
		case *firmware.Metrics:
			if !asked || out.metrics != nil {
				return out, fmt.Errorf("an unrequested METRICS with the GENERATE's seq %d", seq)
			}
			out.metrics = m
		case *firmware.Tokens:
			if int(m.Index) != len(out.tokens) {
				return out, fmt.Errorf("TOKENS index %d after %d tokens: a batch was lost or repeated", m.Index, len(out.tokens))
			}
			if len(m.Tokens) > maxBatch {
				return out, fmt.Errorf("TOKENS batch of %d tokens, at most %d allowed", len(m.Tokens), maxBatch)
			}
			out.tokens = append(out.tokens, m.Tokens...)
		case *firmware.GenDone:
			out.done = m
			if asked && out.metrics == nil {
				// The request may have reached the device after its last
				// token: it is answered all the same.
				m, err := s.frame(ctx, seq, s.opts.Timeout)
				if err != nil {
					return out, fmt.Errorf("GET_METRICS sent during the generation (seq %d): %w", seq, err)
				}
				mm, ok := m.(*firmware.Metrics)
				if !ok {
					return out, fmt.Errorf("GET_METRICS sent during the generation (seq %d) answered with %s, want METRICS", seq, describe(m))
				}
				out.metrics = mm
			}
			return out, nil
		default:
			return out, fmt.Errorf("GENERATE answered with %s", describe(m))
		}
		if sample && !asked && len(out.tokens) > 0 {
			asked = true
			if err := s.write(firmware.Encode(seq, &firmware.GetMetrics{})); err != nil {
				return out, err
			}
		}
		if cancelAfter > 0 && !cancelled && len(out.tokens) >= cancelAfter {
			cancelled = true
			// PROTOCOL.md 3.5: CANCEL carries the GENERATE's seq.
			if err := s.write(firmware.Encode(seq, &firmware.Cancel{})); err != nil {
				return out, err
			}
		}
	}
}

// verify checks a generation's tokens against its GEN_DONE.
func (gen generation) verify(maxTokens uint16) error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	d := gen.done
	for i := 1; i < len(gen.tokens); i++ {
		if gen.tokens[i].TimeUS < gen.tokens[i-1].TimeUS {
			bad("token %d time %d µs is before token %d's %d µs", i, gen.tokens[i].TimeUS, i-1, gen.tokens[i-1].TimeUS)
			break
		}
	}
	n := len(gen.tokens)
	if int(d.Tokens) != n {
		bad("GEN_DONE tokens %d, but %d tokens arrived", d.Tokens, n)
	}
	if n > int(maxTokens) {
		bad("%d tokens for max_tokens %d", n, maxTokens)
	}
	switch d.Stop {
	case firmware.StopLength:
		if n != int(maxTokens) {
			bad("stop=length after %d of %d tokens", n, maxTokens)
		}
	case firmware.StopEOS, firmware.StopCancelled, firmware.StopContext:
	default:
		bad("GEN_DONE stop %d, want 0…3", d.Stop)
	}
	if d.PrefillUS > d.TTFTUS {
		bad("prefill_us %d exceeds ttft_us %d, which includes it", d.PrefillUS, d.TTFTUS)
	}
	if n > 0 {
		first, last := gen.tokens[0].TimeUS, gen.tokens[n-1].TimeUS
		if first < d.StartUS {
			bad("first token at %d µs, before start_us %d", first, d.StartUS)
		} else if diff := int64(first-d.StartUS) - int64(d.TTFTUS); diff > timingSlackUS || diff < -timingSlackUS {
			bad("ttft_us %d, but the first token came %d µs after start_us", d.TTFTUS, first-d.StartUS)
		}
		if diff := int64(last-first) - int64(d.DecodeUS); diff > timingSlackUS || diff < -timingSlackUS {
			bad("decode_us %d, but the tokens span %d µs", d.DecodeUS, last-first)
		}
	}
	return errors.Join(errs...)
}

func checkGenerate(ctx context.Context, s *session) error {
	if !s.loaded {
		return nil // the upload check reported why, or the format is unsupported
	}
	g := &firmware.Generate{MaxTokens: s.opts.MaxTokens, Seed: 42, Temperature: 800, TopP: 900, TopK: 40, Prompt: "Once upon a time"}
	a, err := s.generate(ctx, g, 0)
	if err != nil {
		return err
	}
	var errs []error
	if err := a.verify(g.MaxTokens); err != nil {
		errs = append(errs, err)
	}
	if a.done.PromptTokens == 0 {
		errs = append(errs, fmt.Errorf("GEN_DONE prompt_tokens 0 for the prompt %q", g.Prompt))
	}

	// The second run reads the memory while it generates; it must not
	// change what is generated.
	b, err := s.generateSampled(ctx, g, 0, true)
	if err != nil {
		return errors.Join(append(errs, fmt.Errorf("second run, with GET_METRICS during it: %w", err))...)
	}
	if err := b.verify(g.MaxTokens); err != nil {
		errs = append(errs, fmt.Errorf("second run, with GET_METRICS during it: %w", err))
	}
	if diff := cmp.Diff(ids(a.tokens), ids(b.tokens)); diff != "" {
		errs = append(errs, fmt.Errorf("two generations with seed %d differ (-first +second):\n%s", g.Seed, diff))
	}

	if s.info != nil && s.info.Capabilities.Cancel() {
		if err := checkCancel(ctx, s); err != nil {
			errs = append(errs, fmt.Errorf("CANCEL: %w", err))
		}
		if err := checkCancelIdle(ctx, s); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// checkCancelIdle sends CANCEL with no generation running: BAD_REQUEST.
func checkCancelIdle(ctx context.Context, s *session) error {
	seq, err := s.send(&firmware.Cancel{})
	if err != nil {
		return err
	}
	if err := s.expectError(ctx, seq, firmware.CodeBadRequest); err != nil {
		return fmt.Errorf("CANCEL with no generation running: %w", err)
	}
	return nil
}

// checkCancel cancels a long generation after its first batch.
func checkCancel(ctx context.Context, s *session) error {
	g := &firmware.Generate{MaxTokens: 60000, Seed: 7, Prompt: "cancel me"}
	gen, err := s.generate(ctx, g, 1)
	if err != nil {
		return err
	}
	if err := gen.verify(g.MaxTokens); err != nil {
		return err
	}
	if gen.done.Stop == firmware.StopLength || gen.done.Stop == firmware.StopContext {
		// It finished before CANCEL arrived; the CANCEL then found nothing
		// running, and must be answered BAD_REQUEST with its seq.
		if err := s.expectError(ctx, gen.seq, firmware.CodeBadRequest); err != nil {
			return fmt.Errorf("CANCEL after the generation ended: %w", err)
		}
		return nil
	}
	if gen.done.Stop != firmware.StopCancelled {
		return fmt.Errorf("GEN_DONE stop %d after CANCEL, want %d", gen.done.Stop, firmware.StopCancelled)
	}
	return nil
}

func ids(ts []firmware.Token) []uint32 {
	out := make([]uint32, len(ts))
	for i, t := range ts {
		out[i] = t.ID
	}
	return out
}
