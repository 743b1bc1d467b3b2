package sim

import (
	"fmt"
	"math"
	"sort"
	"sync"
	"time"

	"github.com/tinyprof/tinyprof/platform"
	"github.com/tinyprof/tinyprof/power"
	"github.com/tinyprof/tinyprof/power/powermodel"
)

// The simulated board's power. A board whose platform has a power model
// (power/powermodel) keeps a time line of what it did — idle, or one
// computing core streaming weights and KV cache from PSRAM or flash at the
// rate the cost model gives — on its own clock, and derives from it
//
//   - METRICS power figures (CapPower): the average since the previous
//     METRICS, so that power × elapsed uptime is the energy between two
//     readings, as an INA226 averaging between reads would report;
//   - Energy, the exact integral the simulator dissipated, which tests
//     compare meters against;
//   - Waveform, the current and a "generation active" GPIO line at each
//     instant, which drives a simulated meter (power/powersim).
//
// Every figure is modelled, not measured.

// maxActivity bounds the time line; older entries are forgotten (a meter
// only asks about the recent past).
const maxActivity = 16384

// activity is one busy interval on the board's internal time line.
type activity struct {
	from, to uint64 // internal µs
	act      powermodel.Activity
	gen      bool   // a generation: the GPIO line is raised
	origin   uint64 // a generation's: the internal µs it began (it may span several entries)
}

// reads counts bytes read from each external memory.
type reads struct{ psram, flash float64 }

func (r *reads) add(region platform.Region, n float64) {
	switch region {
	case platform.PSRAM:
		r.psram += n
	case platform.Flash:
		r.flash += n
	}
}

// powerState is the board's power time line, guarded by Board.mu.
//
// A running generation is recorded in pieces: its goroutine reports its
// progress after every token, and a METRICS reading during it (or its end)
// records the activity up to there, so that readings between tokens
// integrate exactly what was dissipated up to them.
type powerState struct {
	segs     []activity
	forgot   uint64 // internal µs before which the time line was trimmed
	genStart uint64 // internal µs at which the running generation began
	lastRead uint64 // internal µs of the last METRICS power reading

	progressUS, recordedUS      uint64 // of the running generation: modelled µs done, and recorded
	progressRead, recordedReads reads  // and what those read
}

// progress notes that the running generation has done us µs of modelled
// work reading rd (both cumulative).
func (p *powerState) progress(us uint64, rd reads) { p.progressUS, p.progressRead = us, rd }

// record adds the running generation's activity up to its progress to the
// time line, and returns the internal time up to which it is recorded.
func (p *powerState) record() uint64 {
	if d := p.progressUS - p.recordedUS; p.progressUS > p.recordedUS {
		rd := reads{psram: p.progressRead.psram - p.recordedReads.psram, flash: p.progressRead.flash - p.recordedReads.flash}
		p.addGen(p.genStart+p.recordedUS, d, rd)
		p.recordedUS, p.recordedReads = p.progressUS, p.progressRead
	}
	return p.genStart + p.recordedUS
}

// beginGen starts recording a generation at internal time at.
func (p *powerState) beginGen(at uint64) {
	p.genStart, p.progressUS, p.recordedUS = at, 0, 0
	p.progressRead, p.recordedReads = reads{}, reads{}
}

// addGen records dur µs of the running generation.
func (p *powerState) addGen(from, dur uint64, rd reads) {
	p.add(from, dur, rd, true)
	if n := len(p.segs); n > 0 && p.segs[n-1].gen {
		p.segs[n-1].origin = p.genStart
	}
}

// add records dur µs of one computing core reading rd, from internal time
// from.
func (p *powerState) add(from, dur uint64, rd reads, gen bool) {
	if dur == 0 {
		return
	}
	sec := float64(dur) / 1e6
	a := activity{from: from, to: from + dur, gen: gen,
		act: powermodel.Activity{Cores: 1, PSRAMBytesPerSec: rd.psram / sec, FlashBytesPerSec: rd.flash / sec}}
	if len(p.segs) >= maxActivity {
		keep := p.segs[len(p.segs)-maxActivity/2:]
		p.forgot = keep[0].from
		p.segs = append(p.segs[:0], keep...)
	}
	p.segs = append(p.segs, a)
}

// at returns the activity at internal time t, and whether it is a generation.
func (p *powerState) at(t uint64) (powermodel.Activity, bool) {
	i := sort.Search(len(p.segs), func(k int) bool { return p.segs[k].to > t })
	if i < len(p.segs) && p.segs[i].from <= t {
		return p.segs[i].act, p.segs[i].gen
	}
	return powermodel.Activity{}, false
}

// energy integrates model m over internal [a, b) in joules.
func (p *powerState) energy(m *powermodel.Model, a, b uint64) float64 {
	if b <= a {
		return 0
	}
	v := float64(m.Supply)
	idle := float64(m.Current(powermodel.Activity{}))
	e := idle * v * float64(b-a) / 1e6
	for _, s := range p.segs {
		lo, hi := max(s.from, a), min(s.to, b)
		if hi > lo {
			e += (float64(m.Current(s.act)) - idle) * v * float64(hi-lo) / 1e6
		}
	}
	return e
}

// horizon is the internal time up to which the time line is final: now,
// or the start of a running generation (its activity is recorded when it
// ends).
func (s *state) horizon() uint64 {
	if s.generating {
		return s.power.genStart + s.power.recordedUS
	}
	return s.internalUS()
}

// PowerModel returns the board's power model, or an error matching
// power.ErrNoModel for a platform without cited power figures.
func (b *Board) PowerModel() (powermodel.Model, error) {
	if b.pmodel == nil {
		return powermodel.Board(b.plat)
	}
	return *b.pmodel, nil
}

// Energy returns the energy the board dissipated between two readings of
// its clock (µs of uptime in the current boot, as GEN_DONE's start_us and
// METRICS' uptime_us report them), from its power model. It fails for a
// platform without a model and for an interval outside the current boot.
func (b *Board) Energy(fromUS, toUS uint64) (power.Energy, error) {
	if b.pmodel == nil {
		_, err := powermodel.Board(b.plat)
		return 0, err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	s := &b.state
	if fromUS < bootUS || toUS < fromUS || toUS > s.clockUS() {
		return 0, fmt.Errorf("simulated board: energy over [%d, %d] µs: the interval is not within this boot's clock [%d, %d] µs", fromUS, toUS, bootUS, s.clockUS())
	}
	a, z := fromUS-bootUS+s.bootAt, toUS-bootUS+s.bootAt
	if a < s.power.forgot {
		return 0, fmt.Errorf("simulated board: energy from %d µs: the time line no longer reaches back that far", fromUS)
	}
	return power.Energy(s.power.energy(b.pmodel, a, z)), nil
}

// Line is how a board drives the GPIO wired to a meter during a
// generation.
type Line int

const (
	// LineLevel holds the line high for the whole generation: wire it to
	// a PPK2 logic input and find the window with power.LogicWindows.
	LineLevel Line = iota
	// LinePulse holds the line high and pulls it low for PulseWidth at
	// the start and at the end of each generation, as MLPerf Tiny's
	// timestamp pin does: wire it to the LPM01A's D7 event input (falling
	// edge) and find the window with power.MarkerWindows.
	LinePulse
)

// PulseWidth is how long LinePulse holds the line low at each edge: one
// sample of an LPM01A at 1 kHz, its default rate.
const PulseWidth = time.Millisecond

// WaveformOptions configure Waveform.
type WaveformOptions struct {
	// Line is how the GPIO is driven. Default LineLevel.
	Line Line
	// Bit is the meter input the GPIO is wired to: bit n of
	// power.Reading.Logic (PPK2 Dn; the LPM01A's D7 is bit 0). Default 0.
	Bit uint
}

// Waveform returns what a meter wired to the board sees: the modelled
// current and the GPIO line at each instant. Meter time 0 is the board's
// time at the waveform's first call (when the meter starts sampling); a
// call with an earlier time than the one before begins a new sampling
// session there.
//
// The waveform never runs ahead of the board: a call for a time the board
// has not lived through yet waits (in real time) until it has, so an
// unpaced simulated meter streams idle time at the board's pace and a
// generation's modelled seconds as fast as the reader takes them. When
// the board is closed it returns no current. It fails with
// power.ErrNoModel for a platform without a power model.
func (b *Board) Waveform(opts WaveformOptions) (power.Waveform, error) {
	if b.pmodel == nil {
		_, err := powermodel.Board(b.plat)
		return nil, err
	}
	if opts.Bit > 7 {
		return nil, &power.Error{Op: "waveform", Code: power.CodeBadArgument, Err: fmt.Errorf("logic bit %d: meters have D0–D7", opts.Bit)}
	}
	var mu sync.Mutex // a stopped meter's goroutine may overlap the next one's
	var anchor uint64
	last := time.Duration(-1)
	mask := uint8(1) << opts.Bit
	return func(t time.Duration) power.Reading {
		mu.Lock()
		if t < last || last < 0 {
			b.mu.Lock()
			anchor = b.state.internalUS() - uint64(t.Microseconds())
			b.mu.Unlock()
		}
		last = t
		at := anchor + uint64(t/time.Microsecond)
		mu.Unlock()
		if !b.waitFor(at) {
			return power.Reading{}
		}
		b.mu.Lock()
		act, gen := b.state.power.at(at)
		var start, end uint64
		if opts.Line == LinePulse {
			start, end = b.state.power.genEdges(at, b.state.generating)
		}
		b.mu.Unlock()
		r := power.Reading{Current: b.pmodel.Current(act)}
		switch opts.Line {
		case LineLevel:
			if gen {
				r.Logic = mask
			}
		case LinePulse:
			w := uint64(PulseWidth / time.Microsecond)
			low := (start > 0 || end > 0) && ((at >= start && at < start+w) || (at >= end && at < end+w))
			if !low {
				r.Logic = mask
			}
		}
		return r
	}, nil
}

// genEdges returns the start and end of the generation whose pulses
// (PulseWidth after each edge) may cover t, or zeros. A generation may be
// recorded in several entries; the end of the one still running (running
// set) is not known yet, and is returned as the largest time.
func (p *powerState) genEdges(t uint64, running bool) (uint64, uint64) {
	w := uint64(PulseWidth / time.Microsecond)
	for i := len(p.segs) - 1; i >= 0; i-- {
		s := p.segs[i]
		if !s.gen {
			continue
		}
		if s.from <= t && t < s.to+w {
			end := s.to
			for k := i + 1; k < len(p.segs) && p.segs[k].gen && p.segs[k].origin == s.origin; k++ {
				end = p.segs[k].to
			}
			if running && s.origin == p.genStart {
				end = math.MaxUint64
			}
			return s.origin, end
		}
		if s.to+w <= t {
			break
		}
	}
	return 0, 0
}

// waitFor blocks until the board's time line is final at internal time t,
// and reports false if the board stopped first.
func (b *Board) waitFor(t uint64) bool {
	for {
		b.mu.Lock()
		h := b.state.horizon()
		b.mu.Unlock()
		if t <= h {
			return true
		}
		d := time.Duration(t-h) * time.Microsecond
		if !b.sleep(max(d, time.Millisecond)) {
			return false
		}
	}
}

// powerReading returns the METRICS power fields for a reading at internal
// time now: the average power and current since the previous reading (or
// since the board was created), and the supply voltage. It runs with b.mu
// held.
func (b *Board) powerReading(now uint64) (uw, ua uint32, mv uint16) {
	s := &b.state
	from := s.power.lastRead
	s.power.lastRead = now
	m := b.pmodel
	var w float64
	if now > from {
		w = s.power.energy(m, from, now) / (float64(now-from) / 1e6)
	} else {
		act, _ := s.power.at(now)
		w = float64(m.Power(act))
	}
	v := float64(m.Supply)
	return uint32(math.Round(w * 1e6)), uint32(math.Round(w / v * 1e6)), uint16(math.Round(v * 1e3))
}
