package ppk2

import (
	"encoding/binary"
	"math"
	"time"

	"github.com/tinyprof/tinyprof/power"
)

// SamplePeriod is the PPK2's sampling period: 100,000 samples a second
// (Nordic pc-nrfconnect-ppk, adcSamplingTimeUs = 10).
const SamplePeriod = 10 * time.Microsecond

// The fields of a 4-byte little-endian sample (Nordic serialDevice.ts;
// profiling_anchors.md §2.1).
const (
	adcMask     = 1<<14 - 1 // bits 0–13
	rangeShift  = 14        // bits 14–16
	rangeMask   = 7
	counterShft = 18 // bits 18–23
	counterMask = 0x3F
	logicShift  = 24 // bits 24–31
)

// Field extracts the fields of one raw sample word.
func Field(word uint32) (adc uint32, rng int, counter uint8, logic uint8) {
	adc = (word & adcMask) * 4
	rng = min(int(word>>rangeShift&rangeMask), 4)
	counter = uint8(word >> counterShft & counterMask)
	logic = uint8(word >> logicShift)
	return
}

// Spike filter constants (Nordic pc-nrfconnect-ppk): range switches make
// the first samples in the new range overshoot, so those samples are
// replaced by a rolling average.
const (
	spikeAlpha   = 0.18
	spikeAlpha4  = 0.06
	spikeSamples = 3
)

// Decoder turns the PPK2's byte stream into samples, each with the current
// step of one ADC count in its range as its CurrentError. It keeps a partial
// sample across calls (USB buffers split samples), numbers samples from the
// first one, detects lost samples from the 6-bit rolling counter, and
// optionally applies Nordic's spike filter. A Decoder is not safe for
// concurrent use.
type Decoder struct {
	cal     Calibration
	voltage power.Voltage
	filter  bool

	rem     [4]byte
	nrem    int
	index   int64 // sample index of the next sample, lost ones included
	started bool
	next    uint8 // expected counter

	rollAvg, rollAvg4         float64
	haveAvg                   bool
	prevRange                 int
	afterSpike, consecutiveIn int

	Stats power.Stats
}

// NewDecoder returns a decoder using calibration cal; samples carry
// voltage v (0 if unknown). filter turns on the spike filter.
func NewDecoder(cal Calibration, v power.Voltage, filter bool) *Decoder {
	return &Decoder{cal: cal, voltage: v, filter: filter, prevRange: -1}
}

// Feed decodes b and appends the samples to dst.
func (d *Decoder) Feed(dst []power.Sample, b []byte) []power.Sample {
	if d.nrem > 0 {
		n := copy(d.rem[d.nrem:], b)
		d.nrem += n
		b = b[n:]
		if d.nrem < 4 {
			return dst
		}
		dst = d.one(dst, binary.LittleEndian.Uint32(d.rem[:]))
		d.nrem = 0
	}
	for len(b) >= 4 {
		dst = d.one(dst, binary.LittleEndian.Uint32(b))
		b = b[4:]
	}
	d.nrem = copy(d.rem[:], b)
	return dst
}

func (d *Decoder) one(dst []power.Sample, word uint32) []power.Sample {
	adc, rng, counter, logic := Field(word)
	gap := false
	if d.started && counter != d.next {
		lost := int64((counter - d.next) & counterMask)
		d.index += lost
		d.Stats.Lost += lost
		d.Stats.Gaps++
		gap = true
	}
	d.started = true
	d.next = (counter + 1) & counterMask
	amps := d.cal.Amperes(rng, adc)
	step := d.cal.Resolution(rng, adc)
	if d.filter {
		// The filter's stand-in is as far from the measured current as
		// it is: widen the error by that distance.
		f := d.spike(rng, amps)
		step += math.Abs(f - amps)
		amps = f
	}
	dst = append(dst, power.Sample{
		Time:    time.Duration(d.index) * SamplePeriod,
		Current: power.Current(amps), CurrentError: power.Current(step), Voltage: d.voltage,
		Logic: logic, HasLogic: true, Gap: gap,
	})
	d.index++
	d.Stats.Samples++
	return dst
}

// spike replaces the samples just after a range switch by a rolling
// average, as Nordic's app does: for three samples after a switch, and
// with a slower average in the highest range, where the first two
// samples keep the averages from before the switch.
func (d *Decoder) spike(rng int, amps float64) float64 {
	prevAvg, prevAvg4 := d.rollAvg, d.rollAvg4
	if !d.haveAvg {
		d.rollAvg, d.rollAvg4, d.haveAvg = amps, amps, true
	} else {
		d.rollAvg = spikeAlpha*amps + (1-spikeAlpha)*d.rollAvg
		d.rollAvg4 = spikeAlpha4*amps + (1-spikeAlpha4)*d.rollAvg4
	}
	if d.prevRange < 0 {
		d.prevRange = rng
	}
	out := amps
	if d.prevRange != rng || d.afterSpike > 0 {
		if d.prevRange != rng {
			d.consecutiveIn = 0
			d.afterSpike = spikeSamples
		} else {
			d.consecutiveIn++
		}
		if rng == 4 {
			if d.consecutiveIn < 2 {
				d.rollAvg, d.rollAvg4 = prevAvg, prevAvg4
			}
			out = d.rollAvg4
		} else {
			out = d.rollAvg
		}
		d.afterSpike--
	}
	d.prevRange = rng
	return out
}
