package power

import (
	"context"
	"time"
)

// Sample is one reading of a meter.
type Sample struct {
	// Time is when the meter took the sample, on the meter's own clock,
	// from the start of sampling: for a PPK2 the sample index times 10 µs
	// (lost samples included), for an LPM01A the index over the rate.
	Time time.Duration
	// Current is the current drawn by the device under test.
	Current Current
	// CurrentError bounds the meter's own error on Current: the true
	// current lies within Current ± CurrentError. Drivers set it from the
	// meter's resolution (a PPK2's current step of one ADC count in the
	// sample's range) and its stated accuracy (an LPM01A's 2% of the
	// reading); 0 means the meter states none, and Integrate then takes
	// the reading as exact.
	CurrentError Current
	// Voltage is the supply voltage of the device under test: the voltage
	// the meter sources, or the one the caller declared; 0 if unknown.
	Voltage Voltage
	// Logic holds the meter's digital inputs, bit n for input Dn (PPK2
	// D0–D7), when HasLogic is set.
	Logic    uint8
	HasLogic bool
	// Marker reports a timestamp event on the meter's event input just
	// before this sample (an LPM01A "event NN" line on D7).
	Marker bool
	// Gap reports that samples were lost just before this one (a PPK2
	// counter jump, a host buffer overrun); Time already accounts for them.
	Gap bool
}

// Power returns the sample's power, or 0 if its voltage is unknown.
func (s Sample) Power() Power { return s.Current.Times(s.Voltage) }

// Info identifies a meter.
type Info struct {
	// Kind is the driver name: "ppk2", "lpm01a".
	Kind string `json:"kind"`
	// Port is the serial port the meter is on.
	Port string `json:"port"`
	// ID is the meter's identity as it reports it (PPK2 HW number,
	// LPM01A board id), "" if it has none.
	ID string `json:"id,omitempty"`
	// Firmware is the meter firmware version, "" if it does not say.
	Firmware string `json:"firmware,omitempty"`
	// Rate is the sampling rate in samples per second.
	Rate float64 `json:"rate"`
	// Logic reports whether samples carry digital inputs.
	Logic bool `json:"logic"`
	// Simulated is set for a simulated meter: its figures are modelled.
	Simulated bool `json:"simulated,omitempty"`
}

// Meter is a power meter that streams timestamped samples.
//
// Start begins sampling; Read then returns samples in order until Stop.
// Read blocks until at least one sample is available, the context ends, or
// the meter falls silent for longer than its time-out (ErrTimeout). Stop
// ends sampling and discards what it cannot deliver; Close releases the
// port. A Meter is used by one goroutine at a time.
type Meter interface {
	Info() Info
	Start(ctx context.Context) error
	Read(ctx context.Context, dst []Sample) (int, error)
	Stop(ctx context.Context) error
	Close() error
}

// SupplySetter is a meter that sources the device's supply and can set its
// voltage (PPK2 in source-meter mode, LPM01A).
type SupplySetter interface {
	SetSupply(ctx context.Context, v Voltage) error
}

// DUTPowerSwitch is a meter that can switch the device's power on and off.
type DUTPowerSwitch interface {
	SetDUTPower(ctx context.Context, on bool) error
}

// Stats counts what a meter delivered since Start.
type Stats struct {
	Samples int64 `json:"samples"`
	// Lost is the number of samples known to be missing (counter gaps,
	// short seconds, host overruns).
	Lost int64 `json:"lost"`
	// Gaps is the number of separate losses.
	Gaps int64 `json:"gaps"`
	// Skipped is the number of bytes or lines that could not be decoded.
	Skipped int64 `json:"skipped"`
}

// StatsReporter is a meter that counts lost and skipped samples.
type StatsReporter interface {
	Stats() Stats
}
