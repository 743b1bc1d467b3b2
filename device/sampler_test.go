package device

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/tinyprof/tinyprof/firmware"
)

// fakeClock is a clock that moves only when told.
type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time { return c.t }

// event is one thing a generation attempt sees, after the clock moved by
// after. Kinds: "T" a TOKENS batch, "M" a METRICS, "E" an ERROR answering
// GET_METRICS, "B" the board's report of a corrupted frame, "done" the
// GEN_DONE; after it, "M", "E" and "X" (silence, a closed line or a reboot)
// are what the wait for a pending answer met. "retry" throws the attempt
// away and starts the next.
type event struct {
	after time.Duration
	kind  string
}

// outcome is what the sampler made of a script.
type outcome struct {
	Sent      []int    // indexes of the events after which a read went out
	Uncounted int      // corrupted frames the sampler left to the generation
	Pending   bool     // a read was in flight at GEN_DONE
	Samples   []uint64 // the kept samples, by the index of the METRICS event (as UptimeUS)
	Lost      int
	Refused   bool
	Reads     int
}

// play drives a sampler through script the way generateOnce and
// awaitSample do: expire before each frame during the generation, a read
// sent whenever batch says so.
func play(every, timeout time.Duration, script []event) outcome {
	clock := &fakeClock{t: time.Unix(1_000_000, 0)}
	s := newSampler(every, timeout, clock.now)
	s.start()
	var o outcome
	done := false
	for i, e := range script {
		clock.t = clock.t.Add(e.after)
		if !done && e.kind != "retry" && e.kind != "done" {
			s.expire()
		}
		switch e.kind {
		case "T":
			if s.batch() {
				s.sent()
				o.Sent = append(o.Sent, i)
			}
		case "M":
			s.answer(firmware.Metrics{UptimeUS: uint64(i)})
		case "E":
			s.refuse()
		case "B":
			if !s.corrupted() {
				o.Uncounted++
			}
		case "X":
			s.lose()
		case "done":
			o.Pending, done = s.pending(), true
		case "retry":
			s.retry()
			s.start()
		default:
			panic("unknown event " + e.kind)
		}
	}
	var g Generation
	s.report(&g)
	for _, m := range g.Samples {
		o.Samples = append(o.Samples, m.UptimeUS)
	}
	o.Lost, o.Refused, o.Reads = g.SamplesLost, g.SamplingRefused, g.Reads
	return o
}

// evs builds a script of kinds each gap after the one before.
func evs(gap time.Duration, kinds ...string) []event {
	out := make([]event, len(kinds))
	for i, k := range kinds {
		out[i] = event{gap, k}
	}
	return out
}

func TestSampler(t *testing.T) {
	const ms = time.Millisecond
	tests := []struct {
		name    string
		every   time.Duration
		timeout time.Duration
		script  []event
		want    outcome
	}{{
		name: "not sampling", every: 0, timeout: time.Second,
		script: evs(10*ms, "T", "T", "T", "done"),
		want:   outcome{},
	}, {
		name: "a negative period is not sampling", every: -ms, timeout: time.Second,
		script: evs(10*ms, "T", "T", "done"),
		want:   outcome{},
	}, {
		name: "one read per batch, however small the period", every: ms, timeout: time.Second,
		script: evs(10*ms, "T", "M", "T", "M", "T", "M", "done"),
		want:   outcome{Sent: []int{0, 2, 4}, Samples: []uint64{1, 3, 5}, Reads: 3},
	}, {
		name: "no second read while one is in flight", every: ms, timeout: time.Second,
		script: evs(10*ms, "T", "T", "M", "T", "done"),
		want:   outcome{Sent: []int{0, 3}, Samples: []uint64{2}, Reads: 2, Pending: true},
	}, {
		name: "the period counts from the start of the attempt", every: 15 * ms, timeout: time.Second,
		script: evs(10*ms, "T", "T", "M", "T", "T", "done"),
		want:   outcome{Sent: []int{1, 3}, Samples: []uint64{2}, Reads: 2, Pending: true},
	}, {
		name: "a period longer than a batch skips batches", every: 25 * ms, timeout: time.Second,
		script: evs(10*ms, "T", "T", "T", "M", "T", "T", "T", "done"),
		want:   outcome{Sent: []int{2, 5}, Samples: []uint64{3}, Reads: 2, Pending: true},
	}, {
		name: "an answer two batches and a timeout late is lost, and reading stops", every: ms, timeout: 100 * ms,
		script: evs(60*ms, "T", "T", "T", "T", "M", "T", "done"),
		want:   outcome{Sent: []int{0}, Lost: 1, Reads: 1},
	}, {
		name: "two batches within the timeout are not a loss", every: ms, timeout: 100 * ms,
		script: evs(30*ms, "T", "T", "T", "M", "T", "done"),
		want:   outcome{Sent: []int{0, 4}, Samples: []uint64{3}, Reads: 2, Pending: true},
	}, {
		name: "a long wait with one batch is not a loss", every: ms, timeout: 100 * ms,
		script: []event{{10 * ms, "T"}, {10 * ms, "T"}, {time.Second, "M"}, {10 * ms, "done"}},
		want:   outcome{Sent: []int{0}, Samples: []uint64{2}, Reads: 1},
	}, {
		name: "a corrupted frame while a read is in flight is the read's", every: ms, timeout: time.Second,
		script: evs(10*ms, "T", "B", "T", "M", "T", "done"),
		want:   outcome{Sent: []int{0}, Lost: 1, Reads: 1},
	}, {
		name: "a corrupted frame with no read in flight is the generation's", every: ms, timeout: time.Second,
		script: evs(10*ms, "T", "M", "B", "T", "M", "done"),
		want:   outcome{Sent: []int{0, 3}, Uncounted: 1, Samples: []uint64{1, 4}, Reads: 2},
	}, {
		name: "a refusal stops the reading and is reported", every: ms, timeout: time.Second,
		script: evs(10*ms, "T", "E", "T", "T", "done"),
		want:   outcome{Sent: []int{0}, Refused: true, Reads: 1},
	}, {
		name: "a late refusal of a read given up on is not reported", every: ms, timeout: 10 * ms,
		script: evs(20*ms, "T", "T", "T", "E", "T", "done"),
		want:   outcome{Sent: []int{0}, Lost: 1, Reads: 1},
	}, {
		name: "an answer after GEN_DONE is kept", every: ms, timeout: time.Second,
		script: evs(10*ms, "T", "M", "T", "done", "M"),
		want:   outcome{Sent: []int{0, 2}, Pending: true, Samples: []uint64{1, 4}, Reads: 2},
	}, {
		name: "silence after GEN_DONE loses the read", every: ms, timeout: time.Second,
		script: evs(10*ms, "T", "done", "X"),
		want:   outcome{Sent: []int{0}, Pending: true, Lost: 1, Reads: 1},
	}, {
		name: "a refusal after GEN_DONE is reported", every: ms, timeout: time.Second,
		script: evs(10*ms, "T", "done", "E"),
		want:   outcome{Sent: []int{0}, Pending: true, Refused: true, Reads: 1},
	}, {
		name: "reads of an attempt lost to corruption are lost", every: ms, timeout: time.Second,
		script: evs(10*ms, "T", "M", "T", "retry", "T", "M", "done"),
		want:   outcome{Sent: []int{0, 2, 4}, Samples: []uint64{5}, Lost: 2, Reads: 3},
	}, {
		name: "a retry reads again after a refusal", every: ms, timeout: time.Second,
		script: evs(10*ms, "T", "E", "retry", "T", "M", "done"),
		want:   outcome{Sent: []int{0, 3}, Samples: []uint64{4}, Lost: 1, Reads: 2},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := play(tt.every, tt.timeout, tt.script)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("sampler outcome (-want +got):\n%s", diff)
			}
		})
	}
}
