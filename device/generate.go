package device

import (
	"context"
	"fmt"
	"time"

	"github.com/tinyprof/tinyprof/firmware"
)

// GenerateRequest asks the board to generate text.
type GenerateRequest struct {
	Prompt      string  // at most 255 bytes of UTF-8
	MaxTokens   int     // default 64
	Seed        uint32  // generation is deterministic for a seed
	Temperature float64 // 0 = greedy
	TopP        float64 // 0 = off
	TopK        int     // 0 = off
	// OnToken, if set, is called for each token as its batch arrives, from
	// the calling goroutine. If a corrupted batch forces the generation to be
	// run again, indexes start over from 0.
	OnToken func(index int, t firmware.Token)
	// SampleEvery, if positive, reads the board's memory (a GET_METRICS
	// with the GENERATE's sequence number, PROTOCOL.md §3.5) at most this
	// often while it generates, so that a report shows memory during the
	// generation and not only around it. A read goes out when a TOKENS
	// batch arrives, SampleEvery has passed since the previous read and
	// none is in flight, so there is at most one per batch: the board
	// answers between two tokens, and each answer costs it a heap walk and
	// some 60 bytes on the line.
	SampleEvery time.Duration
}

// Generation is a finished generation with the board's own timings.
type Generation struct {
	Tokens  []firmware.Token // every generated token with its device timestamp
	Summary firmware.GenDone
	Retries int // runs lost to corruption before this one
	// Samples are the board's answers to the memory reads sent while it
	// generated (GenerateRequest.SampleEvery), in the order it sent them.
	Samples []firmware.Metrics
	// SamplesLost counts memory reads whose answer never arrived (within
	// the request Timeout), and reads made by runs lost to corruption
	// (Retries). Each METRICS reply restarts the board's power average, so
	// when one is lost the next reply's average covers less than the time
	// since the previous reply the host saw: do not integrate across it.
	SamplesLost int
	// SamplingRefused is set when the board answered a memory read during
	// the generation with an ERROR (firmware older than sampling).
	SamplingRefused bool
	// Reads is how many memory reads were sent, in every attempt: with
	// the METRICS requests around the generation, what the board's power
	// average was restarted by.
	Reads int
}

// TTFT returns the board's time from accepting the request to the first
// generated token.
func (g *Generation) TTFT() time.Duration { return time.Duration(g.Summary.TTFTUS) * time.Microsecond }

// InterTokenLatencies returns the gaps between consecutive tokens, from the
// board's timestamps.
func (g *Generation) InterTokenLatencies() []time.Duration {
	if len(g.Tokens) < 2 {
		return nil
	}
	out := make([]time.Duration, 0, len(g.Tokens)-1)
	for i := 1; i < len(g.Tokens); i++ {
		out = append(out, time.Duration(g.Tokens[i].TimeUS-g.Tokens[i-1].TimeUS)*time.Microsecond)
	}
	return out
}

// DecodeTokensPerSecond returns (tokens-1)/decode time, as llama2.c counts
// it: the first token's wait is TTFT, not decode.
func (g *Generation) DecodeTokensPerSecond() float64 {
	if g.Summary.DecodeUS == 0 || len(g.Tokens) < 2 {
		return 0
	}
	return float64(len(g.Tokens)-1) / (float64(g.Summary.DecodeUS) / 1e6)
}

// Generate runs one generation and returns its tokens and timings. The
// request's Timeout bounds the silence between two frames, not the whole
// generation; ctx bounds the whole. A generation damaged by corrupted frames
// is cancelled and run again with the same seed, within the retry budget.
// Before the first token each Timeout of silence is acted on: a lone
// delimiter, then a memory read (its answer is one of the Samples), then
// the GENERATE again if the board answers but does not generate.
//
// Generate does not judge the board's figures: call Generation.Problems
// with the board's Info to know whether the run is valid.
func (d *Device) Generate(ctx context.Context, req GenerateRequest) (*Generation, error) {
	const op = "generate"
	if req.MaxTokens <= 0 {
		req.MaxTokens = 64
	}
	if req.MaxTokens > 65535 || len(req.Prompt) > 255 {
		return nil, d.errorf(op, CodeBadResponse, fmt.Errorf("max tokens %d or prompt of %d bytes out of range", req.MaxTokens, len(req.Prompt)),
			"use at most 65535 tokens and a prompt of at most 255 bytes")
	}
	msg := &firmware.Generate{MaxTokens: uint16(req.MaxTokens), Seed: req.Seed,
		Temperature: milli(req.Temperature), TopP: milli(req.TopP), TopK: uint16(req.TopK), Prompt: req.Prompt}

	c := d.begin()
	defer d.end(c)
	s := newSampler(req.SampleEvery, d.opts.Timeout, time.Now)
	for attempt := 0; ; attempt++ {
		g, damaged, err := d.generateOnce(ctx, c, msg, req.OnToken, s)
		if err != nil || !damaged {
			if g != nil {
				g.Retries = attempt
				s.report(g)
			}
			return g, err
		}
		s.retry()
		if attempt >= d.opts.Retries {
			d.stopGenerating(c) // do not leave the board BUSY for the next request
			return nil, d.errorf(op, CodeCRC, fmt.Errorf("token batches lost in %d runs", attempt+1), "check the cable, baud rate and ground")
		}
		d.cancel(ctx, c)
		d.renumber(c)
	}
}

// generateOnce runs one attempt, reading memory as s decides. damaged
// reports lost frames, in which case the caller cancels and retries.
func (d *Device) generateOnce(ctx context.Context, c *call, msg *firmware.Generate, onToken func(int, firmware.Token), s *sampler) (g *Generation, damaged bool, err error) {
	const op = "generate"
	if err := d.send(ctx, op, c.Seq(), msg); err != nil {
		return nil, false, err
	}
	s.start()
	g = &Generation{}
	w := prefillWait{sentAt: time.Now()}
	sawBad := false
	for {
		s.expire()
		// Nothing comes until the board has processed the prompt, which on
		// a big model or a long prompt takes far longer than a round trip;
		// but each wait is one request Timeout, so that a lost GENERATE is
		// found out in a few of them (see prefillWait).
		wait := d.opts.Timeout
		if !w.started {
			wait = min(wait, max(time.Until(w.sentAt.Add(d.opts.PrefillTimeout)), time.Millisecond))
		}
		in, err := d.recv(ctx, c, wait)
		switch {
		case err == errAttemptTimeout && sawBad:
			return nil, true, nil // the GEN_DONE was probably the corrupted frame
		case err == errAttemptTimeout && !w.started && time.Since(w.sentAt) < d.opts.PrefillTimeout:
			if err := d.prefillSilence(ctx, c, msg, &w, s); err != nil {
				d.stopGenerating(c)
				return nil, false, err
			}
			continue
		case err == errAttemptTimeout:
			d.stopGenerating(c)
			if !w.started {
				return nil, false, d.errorf(op, CodeTimeout, fmt.Errorf("no frame for %v after the GENERATE", d.opts.PrefillTimeout.Round(time.Millisecond)),
					"the board took longer than PrefillTimeout over the prompt, or stopped; check its log (debug-device)")
			}
			return nil, false, d.errorf(op, CodeTimeout, fmt.Errorf("no frame for %v after %d tokens", wait, len(g.Tokens)),
				"the board stopped mid-generation; check its log (debug-device)")
		case err != nil:
			d.stopGenerating(c)
			return nil, false, d.errorf(op, CodeTimeout, err, fmt.Sprintf("cancelled after %d tokens", len(g.Tokens)))
		case in.bad && isDeviceBadFrame(in) && s.corrupted():
			continue
		case in.bad:
			if isDeviceBadFrame(in) && len(g.Tokens) == 0 {
				return nil, true, nil // our GENERATE was corrupted
			}
			sawBad = true
			continue
		}
		if e, ok := in.msg.(*firmware.Error); ok && e.Request == firmware.TypeGenerate && e.Code == firmware.CodeBusy && w.resent > 0 {
			continue // the GENERATE sent again found the first one running: it was not lost after all
		}
		if e, ok := in.msg.(*firmware.Error); ok && e.Request == firmware.TypeGetMetrics {
			// A refusal of the read in flight, or the late one of a read
			// given up on: either way not the generation's end.
			s.refuse()
			continue
		}
		if done, err := d.checkInbound(op, in); done {
			return nil, false, err
		}
		switch m := in.msg.(type) {
		case *firmware.Metrics:
			s.answer(*m)
			if !w.started {
				w.answered, w.silent = true, 0
			}
		case *firmware.Tokens:
			w.started = true
			if int(m.Index) != len(g.Tokens) {
				return nil, true, nil // a batch was lost
			}
			for _, t := range m.Tokens {
				if onToken != nil {
					onToken(len(g.Tokens), t)
				}
				g.Tokens = append(g.Tokens, t)
			}
			if s.batch() {
				if err := d.send(ctx, op, c.Seq(), &firmware.GetMetrics{}); err != nil {
					d.stopGenerating(c)
					return nil, false, err
				}
				s.sent()
			}
		case *firmware.GenDone:
			w.started = true
			if int(m.Tokens) != len(g.Tokens) {
				return nil, true, nil
			}
			g.Summary = *m
			if s.pending() {
				d.awaitSample(ctx, c, s)
			}
			return g, false, nil
		}
	}
}

// prefillWait is what a generation attempt knows before its first TOKENS
// or GEN_DONE: the board is either working through the prompt (PROTOCOL.md
// lets it answer nothing meanwhile) or never got the GENERATE.
type prefillWait struct {
	sentAt   time.Time // when the GENERATE last went out
	started  bool      // a TOKENS or GEN_DONE arrived
	silent   int       // request Timeouts of silence in a row
	answered bool      // the board answered a probe, but no token came
	resent   int       // GENERATEs sent again
}

// prefillSilence acts on one request Timeout of silence before the first
// token, escalating: first a lone delimiter, which completes a GENERATE
// whose closing 0x00 was lost (a receiver treats two delimiters in a row
// as one, so it is harmless otherwise); then a memory read, which a board
// answers between tokens, or at once if it is idle; a board that answered
// it and still sends no token for a Timeout never got the GENERATE, which
// is sent again with the same seq (a board already running it answers
// BUSY, which the caller ignores). Only PrefillTimeout ends the wait for
// a board that answers nothing: it may be deep in a long prompt.
func (d *Device) prefillSilence(ctx context.Context, c *call, msg *firmware.Generate, w *prefillWait, s *sampler) error {
	const op = "generate"
	w.silent++
	switch {
	case w.answered:
		if w.resent >= d.opts.Retries {
			return d.errorf(op, CodeTimeout, fmt.Errorf("the board answers but did not start generating after %d GENERATEs", w.resent+1),
				"check the board's log (debug-device): it may refuse the request silently")
		}
		w.resent++
		w.answered, w.silent, w.sentAt = false, 0, time.Now()
		return d.send(ctx, op, c.Seq(), msg)
	case w.silent == 1:
		return d.sendRaw(ctx, op, []byte{0})
	case w.silent == 2 && !s.pending():
		if err := d.send(ctx, op, c.Seq(), &firmware.GetMetrics{}); err != nil {
			return err
		}
		s.probe()
	}
	return nil
}

// awaitSample waits for the answer to a memory read still in flight when
// the generation ended: a board answers it after GEN_DONE, and the next
// request must not start until it has, or that answer would reset the
// power average the next METRICS reports.
func (d *Device) awaitSample(ctx context.Context, c *call, s *sampler) {
	for {
		in, err := d.recv(ctx, c, d.opts.Timeout)
		switch {
		case err == nil && in.reset:
			// The board rebooted after GEN_DONE: the next request must
			// learn of it, as it would have between requests.
			d.rebooted.Store(in.msg.(*firmware.Info))
			s.lose()
			return
		case err != nil || in.closed || in.bad:
			s.lose()
			return
		}
		switch m := in.msg.(type) {
		case *firmware.Metrics:
			s.answer(*m)
			return
		case *firmware.Error:
			s.refuse()
			return
		}
	}
}

// stopGenerating cancels a generation the host is giving up on, so that
// the board is not left BUSY for the next request. It has its own short
// deadline: the caller's context may be what ended.
func (d *Device) stopGenerating(c *call) {
	ctx, cancel := context.WithTimeout(context.Background(), min(d.opts.Timeout, time.Second))
	defer cancel()
	d.cancel(ctx, c)
}

// cancel stops the generation of c's sequence number and drains its last
// frames, so that a retry starts on a quiet board.
func (d *Device) cancel(ctx context.Context, c *call) {
	if d.send(ctx, "cancel", c.Seq(), &firmware.Cancel{}) != nil {
		return
	}
	for {
		in, err := d.recv(ctx, c, d.opts.Timeout)
		if err != nil || in.closed || in.reset {
			return
		}
		switch m := in.msg.(type) {
		case *firmware.GenDone:
			return
		case *firmware.Error:
			if m.Request != firmware.TypeGetMetrics {
				return // the CANCEL's own (no generation running), or the generation's
			}
		}
	}
}

func milli(f float64) uint16 {
	if f <= 0 {
		return 0
	}
	return uint16(min(f*1000+0.5, 65535))
}
