package ppk2

import (
	"bufio"
	"bytes"
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/tinyprof/tinyprof/power"
)

// Calibration is a PPK2's metadata block: the per-range calibration
// modifiers that turn ADC values into amperes, the supply voltage and the
// hardware id. The PPK2 sends it as ASCII "key: value" lines ending in
// "END" in answer to GetMetadata (0x19); the format and the defaults for
// absent keys are those of Nordic's pc-nrfconnect-ppk and of hdoordt/ppk2-rs
// (src/types.rs), see shared/research/profiling_anchors.md §2.1.
type Calibration struct {
	Calibrated bool
	// R, GS, GI, O, S, I and UG hold one modifier per measurement range 0–4.
	R, GS, GI, O, S, I, UG [5]float64
	VDD                    int // mV, the supply the PPK2 was last set to
	HW                     uint64
	Mode                   int // 1 ampere meter, 2 source meter
	IA                     int
}

// defaultCalibration is what Nordic uses for keys the block leaves out.
func defaultCalibration() Calibration {
	c := Calibration{R: [5]float64{1031.64, 101.65, 10.15, 0.94, 0.043}}
	for i := range 5 {
		c.GS[i], c.GI[i], c.UG[i] = 1, 1, 1
	}
	return c
}

// maxMetadata bounds the metadata block: the real one is under 600 bytes.
const maxMetadata = 4096

// ParseCalibration parses a metadata block. It fails with
// power.ErrCalibration when a value cannot be parsed or a range modifier
// is out of place, and with power.ErrProtocol when the text is not a PPK2
// metadata block at all (no "END", no VDD or HW line): a meter that
// answers GetMetadata with anything else speaks another protocol.
func ParseCalibration(text []byte) (Calibration, error) {
	c := defaultCalibration()
	if len(text) > maxMetadata {
		return c, calErr(power.CodeProtocol, fmt.Errorf("metadata block of %d bytes (a PPK2 sends under %d)", len(text), maxMetadata))
	}
	seen := map[string]bool{}
	sc := bufio.NewScanner(bytes.NewReader(text))
	line := 0
	ended := false
	for sc.Scan() {
		line++
		s := strings.TrimSpace(sc.Text())
		if s == "" {
			continue
		}
		if s == "END" {
			ended = true
			break
		}
		key, val, ok := strings.Cut(s, ":")
		if !ok {
			return c, calErr(power.CodeProtocol, fmt.Errorf("line %d %q is not \"key: value\"", line, clip(s)))
		}
		key, val = strings.TrimSpace(key), strings.TrimSpace(val)
		if err := c.set(key, val); err != nil {
			return c, calErr(power.CodeCalibration, fmt.Errorf("line %d: %w", line, err))
		}
		seen[key] = true
	}
	if !ended {
		return c, calErr(power.CodeProtocol, fmt.Errorf("no END line after %d lines", line))
	}
	for _, k := range []string{"VDD", "HW"} {
		if !seen[k] {
			return c, calErr(power.CodeProtocol, fmt.Errorf("no %s line", k))
		}
	}
	for r := range 5 {
		if !(c.R[r] > 0) {
			return c, calErr(power.CodeCalibration, fmt.Errorf("R%d = %v: the shunt of each range must be positive", r, c.R[r]))
		}
	}
	return c, nil
}

func (c *Calibration) set(key, val string) error {
	// Nordic maps "-nan" (an uncalibrated field) to null and then to the
	// default; do the same.
	nan := strings.EqualFold(val, "-nan") || strings.EqualFold(val, "nan")
	num := func() (float64, error) {
		f, err := strconv.ParseFloat(val, 64)
		if err != nil {
			return 0, fmt.Errorf("%s: %q is not a number", key, clip(val))
		}
		return f, nil
	}
	switch key {
	case "Calibrated":
		f, err := num()
		c.Calibrated = f != 0
		return err
	case "VDD", "IA", "mode":
		n, err := strconv.Atoi(val)
		if err != nil {
			return fmt.Errorf("%s: %q is not an integer", key, clip(val))
		}
		switch key {
		case "VDD":
			c.VDD = n
		case "IA":
			c.IA = n
		default:
			c.Mode = n
		}
		return nil
	case "HW":
		n, err := strconv.ParseUint(val, 10, 64)
		if err != nil {
			return fmt.Errorf("HW: %q is not an integer", clip(val))
		}
		c.HW = n
		return nil
	}
	arrays := map[string]*[5]float64{"R": &c.R, "GS": &c.GS, "GI": &c.GI, "O": &c.O, "S": &c.S, "I": &c.I, "UG": &c.UG}
	for i := len(key) - 1; i > 0; i-- {
		if key[i] < '0' || key[i] > '9' {
			break
		}
		arr, ok := arrays[key[:i]]
		if !ok || i != len(key)-1 {
			continue
		}
		r := int(key[i] - '0')
		if r > 4 {
			return fmt.Errorf("%s: range %d (the PPK2 has ranges 0–4)", key, r)
		}
		if nan {
			return nil
		}
		f, err := num()
		if err != nil {
			return err
		}
		arr[r] = f
		return nil
	}
	return nil // unknown keys are newer firmware's additions
}

func calErr(code power.Code, err error) error {
	hint := "the PPK2's calibration block is unreadable: update its firmware with nRF Connect Power Profiler"
	if code == power.CodeProtocol {
		hint = "this port does not answer like a PPK2: check --port (the PPK2 data port is the one whose USB interface number ends in 1)"
	}
	return &power.Error{Op: "read calibration", Code: code, Err: err, Hint: hint}
}

func clip(s string) string {
	if len(s) > 40 {
		return s[:40] + "…"
	}
	return s
}

// adcMult is the ADC's volts per count: 1.8 V over 163840 (the 14-bit
// value is scaled by 4 first).
const adcMult = 1.8 / 163840

// Amperes converts an ADC value (the sample's 14-bit field times 4) read
// in measurement range r into amperes with the calibration modifiers:
//
//	x = (adc − O[r]) · adcMult / R[r]
//	I = UG[r] · (x · (GS[r]·x + GI[r]) + S[r]·VDD/1000 + I[r])
//
// as Nordic's pc-nrfconnect-ppk, IRNAS's ppk2-api-python and ppk2-rs all
// compute it (profiling_anchors.md §2.1).
func (c *Calibration) Amperes(r int, adc uint32) float64 {
	x := (float64(adc) - c.O[r]) * (adcMult / c.R[r])
	return c.UG[r] * (x*(c.GS[r]*x+c.GI[r]) + (c.S[r]*float64(c.VDD)/1000 + c.I[r]))
}

// Resolution returns the current step of one ADC count (one unit of the
// sample's 14-bit field, 4 in adc) at adc in range r: the larger of the
// steps to the counts either side, since the calibration's quadratic term
// makes them differ. It is how far a reading may lie from the current the
// PPK2 measured; Nordic states no accuracy for the PPK2 that could be
// added to it, so the shunts' and amplifiers' own error is not counted.
func (c *Calibration) Resolution(r int, adc uint32) float64 {
	a := c.Amperes(r, adc)
	up := math.Abs(c.Amperes(r, adc+4) - a)
	if adc < 4 {
		return up
	}
	return math.Max(up, math.Abs(a-c.Amperes(r, adc-4)))
}
