package lpm01a

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/tinyprof/tinyprof/power"
)

// emit appends a reading of amps whose output format resolves step.
func (m *Meter) emit(amps, step float64) {
	m.ready = append(m.ready, power.Sample{
		Time:    time.Duration(float64(m.index) * float64(time.Second) / float64(m.opts.Rate)),
		Current: power.Current(amps), CurrentError: power.Current(currentError(amps, step)), Voltage: m.opts.Supply,
		Marker: m.marker, Gap: m.gap,
	})
	m.marker, m.gap = false, false
	m.index++
	m.stats.Samples++
}

// resync uses a once-a-second timestamp: the next sample is taken at
// seconds, so samples missing before it were lost.
func (m *Meter) resync(seconds float64) {
	want := int64(seconds*float64(m.opts.Rate) + 0.5)
	if want > m.index {
		m.stats.Lost += want - m.index
		m.stats.Gaps++
		m.index, m.gap = want, true
	}
}

func (m *Meter) decode() error {
	if m.opts.Format == Binary {
		return m.decodeBinary()
	}
	for {
		line, rest, ok := splitLine(m.pending)
		if !ok {
			if len(m.pending) > 4096 {
				m.stats.Skipped++
				m.pending = m.pending[:0]
			}
			return nil
		}
		m.pending = rest
		p := parseLine(line)
		switch p.kind {
		case lineValue:
			if p.bad {
				m.stats.Skipped++
			}
			for i, v := range p.values {
				m.emit(v, p.steps[i])
			}
		case lineTimestamp:
			m.resync(p.seconds)
		case lineEvent:
			m.marker = true
		case lineDone:
			m.running = false
			return &power.Error{Op: "read", Meter: m.meterName(), Code: power.CodeClosed, Err: errors.New("the acquisition ended"),
				Hint: "another tool sent stop, or acqtime is finite: reopen the meter"}
		default:
			if strings.HasPrefix(p.text, "error") {
				return &power.Error{Op: "read", Meter: m.meterName(), Code: power.CodeRemote, Err: errors.New(clip(p.text))}
			}
			if p.text != "" {
				m.stats.Skipped++
			}
		}
	}
}

// maxMeta bounds a bin_hexa metadata block.
const maxMeta = 64

func (m *Meter) decodeBinary() error {
	b := m.pending
	for len(b) >= 2 {
		if b[0] >= 0xF0 {
			end := bytes.Index(b[1:], []byte{0xFF, 0xFF})
			if end < 0 {
				if len(b) > maxMeta {
					m.pending = b
					return &power.Error{Op: "read", Meter: m.meterName(), Code: power.CodeProtocol,
						Err: fmt.Errorf("metadata block longer than %d bytes", maxMeta), Hint: "check the baud rate (3686400) and that the format is bin_hexa"}
				}
				break
			}
			m.stats.Skipped++ // contents undocumented: skipped
			b = b[1+end+2:]
			continue
		}
		w := uint16(b[0])<<8 | uint16(b[1])
		m.emit(ParseBinary(w), binaryStep(w))
		b = b[2:]
	}
	m.pending = append(m.pending[:0], b...)
	return nil
}
