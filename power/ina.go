package power

import (
	"fmt"
	"math"
)

// INA is the scaling of a TI INA219 or INA226 shunt monitor read by a
// board's firmware over I²C, for boards that measure their own power and
// report it in METRICS (firmware/PROTOCOL.md: flags bit 0, power_uw,
// voltage_mv, current_ua).
//
// The firmware programs the calibration register from the shunt and the
// largest expected current, reads the bus-voltage, current and power
// registers, scales them with Decode, and sends the result in METRICS in
// µW, mV and µA. Register scaling (Linux drivers/hwmon/ina2xx.c; TI
// datasheets as applied by public drivers, e.g. the INA226 Python driver
// "calibration = int(0.00512 / (current_lsb * shunt))", "power_lsb =
// current_lsb * 25"):
//
//	chip    bus LSB   bus shift  power LSB        CAL
//	INA219  4 mV      >> 3       20 × current LSB  trunc(0.04096 / (LSB × R))
//	INA226  1.25 mV   0          25 × current LSB  trunc(0.00512 / (LSB × R))
//
// The monitors convert in hundreds of µs to ms, so their figures are
// averages per phase or per token, not traces.
type INA struct {
	Chip       string  // "ina219" or "ina226"
	ShuntOhms  float64 // the shunt resistor
	CurrentLSB Current // amperes per bit of the current register
}

// NewINA returns the scaling for chip with a shunt of shuntOhms that must
// read currents up to maxCurrent, with Current_LSB = maxCurrent / 2^15 as
// the datasheets suggest.
func NewINA(chip string, shuntOhms float64, maxCurrent Current) (INA, error) {
	if chip != "ina219" && chip != "ina226" {
		return INA{}, &Error{Op: "ina", Code: CodeBadArgument, Err: fmt.Errorf("chip %q", chip), Hint: "ina219 or ina226"}
	}
	if !(shuntOhms > 0) || !(maxCurrent > 0) {
		return INA{}, &Error{Op: "ina", Code: CodeBadArgument, Err: fmt.Errorf("shunt %g Ω, max current %v: both must be positive", shuntOhms, maxCurrent)}
	}
	c := INA{Chip: chip, ShuntOhms: shuntOhms, CurrentLSB: maxCurrent / 32768}
	if cal := c.rawCalibration(); cal < 1 || cal > 0xFFFE {
		return INA{}, &Error{Op: "ina", Code: CodeBadArgument, Err: fmt.Errorf("calibration %.0f out of the register's range", cal),
			Hint: "choose a shunt and maximum current whose product fits the chip's range"}
	}
	return c, nil
}

func (c INA) rawCalibration() float64 {
	k := 0.00512
	if c.Chip == "ina219" {
		k = 0.04096
	}
	return math.Trunc(k / (float64(c.CurrentLSB) * c.ShuntOhms))
}

// Calibration returns the value the firmware writes to register 0x05.
func (c INA) Calibration() uint16 { return uint16(c.rawCalibration()) }

// Decode scales the bus-voltage (0x02), current (0x04, signed) and power
// (0x03) registers.
func (c INA) Decode(bus, current, pow uint16) (Voltage, Current, Power) {
	var v Voltage
	powerLSB := 25.0
	if c.Chip == "ina219" {
		v = Voltage(float64(bus>>3) * 4e-3)
		powerLSB = 20
	} else {
		v = Voltage(float64(bus) * 1.25e-3)
	}
	i := Current(float64(int16(current)) * float64(c.CurrentLSB))
	p := Power(float64(pow) * powerLSB * float64(c.CurrentLSB))
	return v, i, p
}

// Metrics is a board's own power reading as METRICS carries it.
type Metrics struct {
	Measured  bool   // flags bit 0: the board measures its power
	PowerUW   uint32 // µW
	VoltageMV uint16 // mV
	CurrentUA uint32 // µA
}

// FromMetrics turns a METRICS power reading into units. It fails when the
// board says it does not measure power: a zero there is not a reading.
func FromMetrics(m Metrics) (Power, Voltage, Current, error) {
	if !m.Measured {
		return 0, 0, 0, &Error{Op: "metrics", Code: CodeNoSamples, Err: fmt.Errorf("the board does not measure its power (METRICS flags bit 0 clear)"),
			Hint: "bind a meter to the board, or fit an INA219/INA226 and report it in METRICS"}
	}
	return Power(float64(m.PowerUW) * 1e-6), Voltage(float64(m.VoltageMV) * 1e-3), Current(float64(m.CurrentUA) * 1e-6), nil
}
