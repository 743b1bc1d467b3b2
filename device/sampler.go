package device

import (
	"time"

	"github.com/tinyprof/tinyprof/firmware"
)

// sampler decides when to read the board's memory during a generation
// (GenerateRequest.SampleEvery, PROTOCOL.md §3.5) and keeps what the reads
// return. It does no I/O: the generation loop tells it what arrived, asks
// it whether to send a read, and sends the GET_METRICS itself.
//
// Its contract:
//
//   - At most one read is in flight, and a read goes out only when a TOKENS
//     batch arrives, SampleEvery has passed since the previous read (or since
//     the attempt began) and none is in flight: so at most one per batch,
//     however small SampleEvery. The board answers between two tokens, and
//     each answer costs it a heap walk and some 60 bytes on the line.
//   - A read is lost when its answer cannot arrive or cannot be told apart:
//     two more batches came and the request Timeout passed without it (the
//     board would have answered between them); the board reported a
//     corrupted frame while it was in flight (most likely the read itself);
//     or it was still in flight at GEN_DONE and the wait after it ended in
//     silence, a corrupted frame, a closed line or a reboot. Every read sent
//     by an attempt lost to corruption is lost too, since its samples
//     belong to a run that is thrown away. After a loss the sampler stops
//     asking for the rest of the attempt: a late answer would be taken for
//     the next read's, and the power averages are broken anyway.
//   - A refusal is an ERROR answering GET_METRICS while a read is in flight
//     (firmware older than sampling); it sets refused and stops the asking.
//     An ERROR for GET_METRICS with none in flight is the late refusal of a
//     read given up on: the asking stops, but it is not reported as refused.
//
// A sampler belongs to one Generate call and is used only by the goroutine
// running it (under the Device's request lock); it is not safe for
// concurrent use.
type sampler struct {
	wanted  time.Duration // the request's SampleEvery, restored by retry
	every   time.Duration // 0 once the attempt stopped asking
	timeout time.Duration // Options.Timeout: how long a missing answer is waited for
	now     func() time.Time

	asking       bool      // a read is in flight
	lastAsk      time.Time // when the last read went out, or the attempt began
	batchesSince int       // TOKENS batches since then

	reads   int // reads sent by this attempt
	lost    int // this attempt's reads whose answer will not come
	refused bool
	samples []firmware.Metrics
	earlier int // reads sent by attempts lost to corruption
}

// newSampler returns a sampler that reads at most every every (never, if
// every is not positive), gives up on an answer after timeout, and tells
// time with now. Call start when the GENERATE has gone out.
func newSampler(every, timeout time.Duration, now func() time.Time) *sampler {
	return &sampler{wanted: max(every, 0), timeout: timeout, now: now}
}

// start begins an attempt: the GENERATE was just sent.
func (s *sampler) start() {
	s.every = s.wanted
	s.asking, s.lastAsk, s.batchesSince = false, s.now(), 0
	s.reads, s.lost, s.refused, s.samples = 0, 0, false, nil
}

// retry throws the attempt away (a batch was lost to corruption): its reads
// count as lost, and start must be called for the next one.
func (s *sampler) retry() {
	s.earlier += s.reads
	s.reads, s.lost, s.samples = 0, 0, nil
}

// expire gives up on the read in flight if its answer is overdue. Call it
// before each wait for the next frame.
func (s *sampler) expire() {
	if s.asking && s.batchesSince >= 2 && s.now().Sub(s.lastAsk) > s.timeout {
		s.lose()
	}
}

// batch records a TOKENS batch and reports whether a read should go out
// now. If it does, the caller sends it and calls sent.
func (s *sampler) batch() bool {
	s.batchesSince++
	return s.every > 0 && !s.asking && s.now().Sub(s.lastAsk) >= s.every
}

// sent records a read sent.
func (s *sampler) sent() {
	s.asking, s.lastAsk, s.batchesSince = true, s.now(), 0
	s.reads++
}

// probe records a read sent to find out whether a silent board is
// generating at all (see generateOnce), whatever SampleEvery says: its
// answer is a sample like any other, since it restarts the board's power
// average just the same.
func (s *sampler) probe() {
	s.asking, s.lastAsk, s.batchesSince = true, s.now(), 0
	s.reads++
}

// pending reports whether a read is in flight, whose answer must be waited
// for after GEN_DONE before the next request.
func (s *sampler) pending() bool { return s.asking }

// answer takes a METRICS. One with no read in flight (the late answer of a
// read given up on) is dropped.
func (s *sampler) answer(m firmware.Metrics) {
	if s.asking {
		s.samples = append(s.samples, m)
		s.asking = false
	}
}

// refuse takes an ERROR answering a memory read.
func (s *sampler) refuse() {
	s.refused = s.refused || s.asking
	s.asking, s.every = false, 0
}

// corrupted takes the board's report of a corrupted frame. It reports
// whether the sampler accounted for it: with a read in flight, the damaged
// frame was most likely the read, which will not be answered. Otherwise the
// caller must treat it as damage to the generation.
func (s *sampler) corrupted() bool {
	if !s.asking {
		return false
	}
	s.lose()
	return true
}

// lose gives up on the read in flight, and on reading for the rest of the
// attempt.
func (s *sampler) lose() {
	s.asking, s.every = false, 0
	s.lost++
}

// report fills g's sampling fields from the attempt that produced it.
func (s *sampler) report(g *Generation) {
	g.Samples = s.samples
	g.SamplesLost = s.lost + s.earlier
	g.SamplingRefused = s.refused
	g.Reads = s.reads + s.earlier
}
