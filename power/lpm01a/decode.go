package lpm01a

import (
	"bytes"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// ParseASCII decodes one ascii_dec value: four mantissa digits, a sign and
// two exponent digits, mantissa × 10^exp amperes ("6409-07" is 640.9 µA;
// mlcommons/tiny power_manager_lpm.py help text).
func ParseASCII(s string) (float64, error) {
	amps, _, err := parseASCII(s)
	return amps, err
}

// parseASCII decodes an ascii_dec value and returns with it its
// resolution, one unit of the mantissa's last digit.
func parseASCII(s string) (amps, step float64, err error) {
	if len(s) != 7 || (s[4] != '-' && s[4] != '+') {
		return 0, 0, fmt.Errorf("%q is not an ascii_dec value (dddd±dd)", clip(s))
	}
	for i, c := range []byte(s) {
		if i != 4 && (c < '0' || c > '9') {
			return 0, 0, fmt.Errorf("%q is not an ascii_dec value (dddd±dd)", clip(s))
		}
	}
	m, _ := strconv.Atoi(s[:4])
	e, _ := strconv.Atoi(s[5:])
	if s[4] == '-' {
		e = -e
	}
	return float64(m) * math.Pow10(e), math.Pow10(e), nil
}

// Accuracy is the PowerShield's stated accuracy in dynamic measurement,
// the mode of a continuous acquisition: "fluctuating currents from 100 nA
// to 50 mA with an accuracy in the range of 2%" (ST UM2243, X-NUCLEO-LPM01A
// user manual, Rev 2, §10 "Dynamic current measurement principle"). Each
// sample's CurrentError is this fraction of its reading plus one unit of
// the output format's last digit.
const Accuracy = 0.02

// currentError bounds the error of a reading of amps whose output format
// resolves step.
func currentError(amps, step float64) float64 { return Accuracy*math.Abs(amps) + step }

// FormatASCII encodes amps as ascii_dec with four significant digits.
func FormatASCII(amps float64) string {
	if !(amps > 0) {
		return "0000+00"
	}
	e := int(math.Floor(math.Log10(amps))) - 3
	m := int(math.Round(amps / math.Pow10(e)))
	if m > 9999 {
		m, e = m/10, e+1
	}
	sign := byte('+')
	if e < 0 {
		sign, e = '-', -e
	}
	return fmt.Sprintf("%04d%c%02d", m, sign, e)
}

// ParseBinary decodes one bin_hexa value: a big-endian 16-bit word whose
// top nibble is the negative hexadecimal exponent and whose low 12 bits
// are the mantissa ("52A0" is 0x2A0 × 16⁻⁵ = 640.9 µA).
func ParseBinary(w uint16) float64 {
	return float64(w&0xFFF) * binaryStep(w)
}

// binaryStep is the resolution of bin_hexa word w: one unit of its
// mantissa.
func binaryStep(w uint16) float64 { return math.Pow(16, -float64(w>>12)) }

// FormatBinary encodes amps as bin_hexa with the finest exponent that
// keeps the mantissa in 12 bits. Exponent 0xF is never used: a word
// starting with 0xF opens a metadata block in the stream.
func FormatBinary(amps float64) uint16 {
	if !(amps > 0) {
		return 0
	}
	for e := 14; e >= 0; e-- {
		m := math.Round(amps * math.Pow(16, float64(e)))
		if m <= 0xFFF {
			return uint16(e)<<12 | uint16(m)
		}
	}
	return 0x0FFF
}

// line kinds in the ASCII stream.
type lineKind int

const (
	lineOther lineKind = iota
	lineValue
	lineTimestamp
	lineEvent
	lineDone
)

// parsedLine is one line of the meter's output with the prompt removed.
type parsedLine struct {
	kind    lineKind
	values  []float64
	steps   []float64 // the resolution of each value
	seconds float64   // TimeStamp
	event   int       // event number
	text    string
	bad     bool // a value line with undecodable parts
}

const prompt = "PowerShield >"

// parseLine classifies a line of ASCII output. Data lines carry one or
// more ascii_dec values; "TimeStamp: 001s 000ms, buff 00%" lines come once
// a second; "event NN ris|fal" lines mark edges on the D7 event input
// (mlcommons/tiny power_manager_lpm.py read_loop).
func parseLine(b []byte) parsedLine {
	s := strings.TrimSpace(string(b))
	s = strings.TrimSpace(strings.TrimPrefix(s, prompt))
	switch {
	case s == "":
		return parsedLine{kind: lineOther}
	case strings.HasPrefix(s, "TimeStamp"):
		return parseTimestamp(s)
	case strings.HasPrefix(s, "event "):
		f := strings.Fields(s)
		if len(f) >= 2 {
			if n, err := strconv.Atoi(f[1]); err == nil {
				return parsedLine{kind: lineEvent, event: n, text: s}
			}
		}
		return parsedLine{kind: lineOther, text: s}
	case strings.Contains(s, "Acquisition completed"):
		return parsedLine{kind: lineDone, text: s}
	case s[0] >= '0' && s[0] <= '9':
		var out parsedLine
		out.kind = lineValue
		for _, tok := range strings.Fields(s) {
			for len(tok) >= 7 {
				v, step, err := parseASCII(tok[:7])
				if err != nil {
					out.bad = true
					break
				}
				out.values = append(out.values, v)
				out.steps = append(out.steps, step)
				tok = tok[7:]
			}
			if len(tok) > 0 && len(tok) < 7 {
				out.bad = true
			}
		}
		return out
	}
	return parsedLine{kind: lineOther, text: s}
}

func parseTimestamp(s string) parsedLine {
	// "TimeStamp: 001s 000ms, buff 00%"
	var sec, ms int
	rest := strings.TrimSpace(strings.TrimPrefix(s, "TimeStamp:"))
	if _, err := fmt.Sscanf(rest, "%ds %dms", &sec, &ms); err != nil {
		return parsedLine{kind: lineOther, text: s}
	}
	return parsedLine{kind: lineTimestamp, seconds: float64(sec) + float64(ms)/1000, text: s}
}

// splitLine returns the first line in b (without its terminator) and the
// rest, or ok false if b holds no complete line.
func splitLine(b []byte) (line, rest []byte, ok bool) {
	i := bytes.IndexByte(b, '\n')
	if i < 0 {
		return nil, b, false
	}
	return bytes.TrimRight(b[:i], "\r"), b[i+1:], true
}

func clip(s string) string {
	if len(s) > 40 {
		return s[:40] + "…"
	}
	return s
}
