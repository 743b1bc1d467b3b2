package sim

import (
	"fmt"
	"time"

	"github.com/tinyprof/tinyprof/firmware"
	"github.com/tinyprof/tinyprof/model"
	"github.com/tinyprof/tinyprof/platform"
)

// Token batches are sent every batchTokens tokens or batchUS of device time.
const (
	batchTokens = 16
	batchUS     = 100_000
)

// generate starts a generation on its own goroutine, so that the board
// keeps answering PING, METRICS and CANCEL while it runs.
func (b *Board) generate(seq uint16, m *firmware.Generate) {
	b.mu.Lock()
	s := &b.state
	switch {
	case s.generating:
		b.mu.Unlock()
		b.send(seq, &firmware.Error{Code: firmware.CodeBusy, Request: firmware.TypeGenerate, Text: "a generation is running"})
		return
	case s.model == nil:
		b.mu.Unlock()
		b.send(seq, &firmware.Error{Code: firmware.CodeNoModel, Request: firmware.TypeGenerate, Text: "no model loaded"})
		return
	}
	info, place := s.model.info, s.model.place
	seqLen := place.Context
	// llama2.c allocates its KV cache for the whole context, and its run
	// state, before the first token: where model.Fit put them.
	if it, ok := s.allocItems(place, false); !ok {
		b.mu.Unlock()
		b.send(seq, &firmware.Error{Code: firmware.CodeOutOfMemory, Request: firmware.TypeGenerate,
			Text: fmt.Sprintf("no room for the %s (%d bytes in %s): the heap has less free than at load; cut the context or free memory", it.Name, it.Bytes, it.Region)})
		return
	}
	kvIn := place.Region(model.ItemKVCache)
	src, err := newTokenSource(s.model.lm, b.Options.Seed, m, seqLen, int64(info.Vocab))
	if err != nil {
		s.freeItems(place, false)
		b.mu.Unlock()
		b.send(seq, &firmware.Error{Code: firmware.CodeBadRequest, Request: firmware.TypeGenerate, Text: err.Error()})
		return
	}
	peakHeap, peakPSRAM := s.heapUsed, s.psramUsed
	cm := newCostModel(b.plat, info, weightBytes(place), kvIn, seqLen)
	s.generating, s.cancel = true, false
	s.generations++
	first := s.generations == 1
	// One reading of the clock for both: a read answered at the last
	// token must report exactly that token's time.
	at := s.internalUS()
	start := bootUS + at - s.bootAt
	s.power.beginGen(at)
	b.mu.Unlock()

	b.wg.Add(1)
	go func() {
		defer b.wg.Done()
		b.runGeneration(seq, m, cm, src, start, first, peakHeap, peakPSRAM, func() {
			s.freeItems(place, false)
			before := s.heap.InUse()
			s.heap.Generate()
			if d := s.heap.InUse() - before; d > 0 {
				s.alloc(platform.SRAM, min(d, s.freeHeap())) // a full heap stays full
			} else {
				s.free(platform.SRAM, -d)
			}
		})
	}()
}

// runGeneration produces the tokens, src's ids at the cost model's times. release frees the generation's
// memory; it runs with b.mu held.
func (b *Board) runGeneration(seq uint16, m *firmware.Generate, cm costModel, src *tokenSource, start uint64, first bool, peakHeap, peakPSRAM int64, release func()) {
	// The cost model prices the prompt at one token per four bytes, as it
	// always has, so that modelled timings stay put; the token source runs
	// the model's own prompt (BOS and one token per byte) for the ids.
	prompt := promptTokens(m.Prompt)
	boot := b.BootID()      // a reboot ends this generation: it must not touch the new boot's state
	var slept time.Duration // real time spent sleeping, with TimeScale
	// computed is real time spent running the model for the ids: it passed
	// on the clock already, inside the modelled busy time, as slept does.
	var computed time.Duration
	var tUS uint64 // modelled time since start
	for pos := 0; pos < prompt-1; pos++ {
		tUS += uint64(cm.forward(pos).Microseconds())
	}
	prefill := tUS
	if b.Options.TimeScale > 0 {
		nap := time.Duration(float64(prefill) * float64(time.Microsecond) * b.Options.TimeScale)
		if !b.sleep(nap) {
			return
		}
		slept += nap
	}
	var rd reads // what the forward passes read from PSRAM and flash
	for pos := 0; pos < prompt-1; pos++ {
		cm.reads(pos, &rd)
	}
	b.progress(boot, tUS, rd)
	var batch []firmware.Token
	index, done := 0, 0
	stop := firmware.StopLength
	var firstUS uint64
	flush := func() {
		if len(batch) > 0 {
			b.send(seq, &firmware.Tokens{Index: uint16(index), Tokens: batch})
			index += len(batch)
			batch = nil
		}
	}
	f := b.Options.Faults
	jitter := newTokenRNG(b.Options.Seed^0x6a69_7474_6572, m.Seed, m.Prompt)
	for i := 0; i < int(m.MaxTokens); i++ {
		pos := prompt - 1 + i
		if pos >= cm.seqLen {
			stop = firmware.StopContext // llama2.c's run.c stops at seq_len too
			break
		}
		if f.StopAfterTokens > 0 && i >= f.StopAfterTokens {
			stop = firmware.StopEOS
			break
		}
		step := cm.forward(pos)
		if j := b.Options.Jitter; j > 0 {
			u := float64(jitter.next()>>11) / (1 << 53) // [0, 1)
			step = time.Duration(float64(step) * (1 + j*(2*u-1)))
		}
		if f.StallEvery > 0 && (i+1)%f.StallEvery == 0 {
			factor := f.StallFactor
			if factor <= 0 {
				factor = 3
			}
			step = time.Duration(float64(step) * factor)
		}
		if b.Options.TimeScale > 0 {
			nap := time.Duration(float64(step) * b.Options.TimeScale)
			if !b.sleep(nap) {
				return
			}
			slept += nap
		}
		b.mu.Lock()
		cancelled, rebooted := b.state.cancel, b.state.bootID != boot
		b.mu.Unlock()
		if rebooted {
			return // the board restarted under this generation
		}
		if cancelled || b.stopped() {
			stop = firmware.StopCancelled // the interrupted step produced no token
			break
		}
		tUS += uint64(step.Microseconds())
		cm.reads(pos, &rd)
		b.progress(boot, tUS, rd)
		if i == 0 {
			firstUS = tUS
		}
		t0 := time.Now()
		id, err := src.next()
		computed += time.Since(t0)
		if err != nil {
			// Not reached: the loop stops at the context's end first.
			b.log(firmware.LevelError, "generation: "+err.Error())
			stop = firmware.StopEOS
			break
		}
		batch = append(batch, firmware.Token{ID: id, TimeUS: start + tUS})
		done++
		if first && b.Options.Faults.ResetAfterTokens > 0 && done >= b.Options.Faults.ResetAfterTokens {
			flush()
			b.reboot() // records the generation so far, and ends it
			return
		}
		if len(batch) >= batchTokens || tUS-(batch[0].TimeUS-start) >= batchUS {
			flush()
		}
	}
	flush()
	b.mu.Lock()
	if b.state.bootID != boot {
		b.mu.Unlock()
		return // rebooted while the last batch went out: its memory is gone already
	}
	b.state.power.progress(tUS, rd)
	b.state.power.record()
	// The clock is real time plus modelled work: what was slept, or spent
	// computing the ids, in real time already passed on it.
	passed := uint64((slept + computed).Microseconds())
	b.state.addWork(tUS - min(tUS, passed))
	b.state.sleptBusyUS += min(tUS, passed)
	release()
	b.state.generating, b.state.cancel = false, false
	b.mu.Unlock()
	sum := &firmware.GenDone{Tokens: uint16(done), PromptTokens: uint16(prompt), StartUS: start,
		PrefillUS: uint32(prefill), PeakHeap: clamp32(peakHeap), PeakPSRAM: clamp32(peakPSRAM), Stop: stop}
	if done > 0 {
		sum.TTFTUS = uint32(firstUS)
		sum.DecodeUS = uint32(tUS - firstUS)
	}
	b.send(seq, sum)
}

// progress reports a generation's modelled work so far to the power time
// line, unless the board rebooted under it.
func (b *Board) progress(boot uint32, us uint64, rd reads) {
	b.mu.Lock()
	if b.state.bootID == boot && b.state.generating {
		b.state.power.progress(us, rd)
	}
	b.mu.Unlock()
}

// tokenRNG is a splitmix64 stream: token ids depend only on the board's
// seed, the request's seed and the prompt.
type tokenRNG struct{ s uint64 }

func newTokenRNG(boardSeed uint64, seed uint32, prompt string) *tokenRNG {
	h := boardSeed ^ uint64(seed)<<32
	for i := 0; i < len(prompt); i++ {
		h = (h ^ uint64(prompt[i])) * 0x100000001b3
	}
	return &tokenRNG{s: h}
}

func (r *tokenRNG) next() uint64 {
	r.s += 0x9e3779b97f4a7c15
	z := r.s
	z = (z ^ z>>30) * 0xbf58476d1ce4e5b9
	z = (z ^ z>>27) * 0x94d049bb133111eb
	return z ^ z>>31
}
