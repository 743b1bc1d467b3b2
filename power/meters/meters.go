// Package meters is the registry of the power meters tinyprof can open,
// keyed by kind ("ppk2", "lpm01a"). Each Kind says how to open a real
// meter of its kind on a serial port, how to serve a simulated one of the
// same kind (package power/powersim) to the same driver, and what its
// inputs and supply range are, so that an inventory's meter binding, the
// CLI's --meter flags and tests all check and open meters in one way.
//
// The list of kinds is the variable list in this file, not a set of
// init-time registrations: a reader sees every kind in one place, and a
// new meter is one more entry there (with its driver package).
package meters

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/tinyprof/tinyprof/power"
	"github.com/tinyprof/tinyprof/power/lpm01a"
	"github.com/tinyprof/tinyprof/power/powersim"
	"github.com/tinyprof/tinyprof/power/ppk2"
)

// Options configure a meter as it is opened. The zero value opens it with
// its driver's defaults.
type Options struct {
	// Supply is the voltage the meter sources to the board; 0 for the
	// driver's default, 3.3 V. It must lie within the kind's
	// MinSupply–MaxSupply.
	Supply power.Voltage
	// Rate is the sampling rate in Hz for a meter whose rate is chosen
	// (LPM01A: one of lpm01a.Rates); 0 for the driver's default. A meter
	// with a fixed rate (PPK2, 100 kHz) ignores it.
	Rate int
	// Timeout bounds each answer and each silence while streaming; 0 for
	// the driver's default.
	Timeout time.Duration
	// PowerDUT switches the board's supply on once the meter is
	// configured. A PPK2 leaves it as it was without it; an LPM01A always
	// switches it on.
	PowerDUT bool
	// Simulated marks the meter's Info as simulated: its figures are
	// modelled. OpenSimulated sets it.
	Simulated bool
}

// SimOptions configure a simulated meter.
type SimOptions struct {
	// Paced streams samples at the meter's real rate on the wall clock;
	// otherwise as fast as the driver reads them, with the same sample
	// times (what tests want).
	Paced bool
}

// Kind is one kind of power meter.
type Kind struct {
	// Name is the kind's key: what an inventory's `meter: {kind: …}` and
	// the CLI's --meter take, and what the driver reports in Info.Kind.
	Name string
	// Title names the instrument for people ("Nordic PPK2").
	Title string
	// Short is how error messages name it ("PPK2").
	Short string
	// MinSupply and MaxSupply bound the voltage it sources.
	MinSupply, MaxSupply power.Voltage
	// LogicInputs is how many digital inputs it samples with every reading
	// (PPK2: D0–D7), to one of which a board's "generation active" GPIO is
	// wired as a level; 0 if it has none.
	LogicInputs uint
	// EventInput, for a meter without logic inputs, names the input that
	// timestamps an edge of the board's GPIO ("event input D7" on the
	// LPM01A); "" if it has none.
	EventInput string

	open  func(ctx context.Context, port string, o Options) (power.Meter, error)
	serve func(wave power.Waveform, o SimOptions) (path string, stop func(), err error)
}

// list is every kind, in the order Names reports them.
var list = []Kind{
	{
		Name: "ppk2", Title: "Nordic Power Profiler Kit II", Short: "PPK2",
		MinSupply: ppk2.MinSupply, MaxSupply: ppk2.MaxSupply, LogicInputs: 8,
		open: func(ctx context.Context, port string, o Options) (power.Meter, error) {
			return ppk2.Open(ctx, port, ppk2.Options{Supply: o.Supply, PowerDUT: o.PowerDUT, Timeout: o.Timeout, Simulated: o.Simulated})
		},
		serve: func(wave power.Waveform, o SimOptions) (string, func(), error) {
			s, err := powersim.ListenPPK2(powersim.PPK2Options{Waveform: wave, Paced: o.Paced})
			if err != nil {
				return "", nil, err
			}
			return s.Path, s.Close, nil
		},
	},
	{
		Name: "lpm01a", Title: "ST X-NUCLEO-LPM01A (PowerShield)", Short: "LPM01A",
		MinSupply: 1.8, MaxSupply: 3.3, EventInput: "event input D7",
		open: func(ctx context.Context, port string, o Options) (power.Meter, error) {
			return lpm01a.Open(ctx, port, lpm01a.Options{Supply: o.Supply, Rate: o.Rate, Timeout: o.Timeout, Simulated: o.Simulated})
		},
		serve: func(wave power.Waveform, o SimOptions) (string, func(), error) {
			s, err := powersim.ListenLPM01A(powersim.LPM01AOptions{Waveform: wave, Paced: o.Paced})
			if err != nil {
				return "", nil, err
			}
			return s.Path, s.Close, nil
		},
	},
}

// ErrUnknownKind matches, with errors.Is, the error Lookup returns for a
// kind that is not in the registry.
var ErrUnknownKind = errors.New("unknown meter kind")

// Kinds returns every kind of meter, in a fixed order.
func Kinds() []Kind { return append([]Kind(nil), list...) }

// Names returns the kinds' names, in the order of Kinds.
func Names() []string {
	out := make([]string, len(list))
	for i, k := range list {
		out[i] = k.Name
	}
	return out
}

// Choices returns the names as a phrase for messages: "ppk2 or lpm01a".
func Choices() string {
	n := Names()
	if len(n) < 2 {
		return strings.Join(n, "")
	}
	return strings.Join(n[:len(n)-1], ", ") + " or " + n[len(n)-1]
}

// Lookup returns the kind called name. An unknown name yields an error
// that matches ErrUnknownKind and lists the known kinds.
func Lookup(name string) (Kind, error) {
	for _, k := range list {
		if k.Name == name {
			return k, nil
		}
	}
	return Kind{}, fmt.Errorf("%w %q: %s", ErrUnknownKind, name, Choices())
}

// Open opens a real meter of kind name on the serial port at port. The
// caller must Close it.
func Open(ctx context.Context, name, port string, opts Options) (power.Meter, error) {
	k, err := Lookup(name)
	if err != nil {
		return nil, err
	}
	return k.Open(ctx, port, opts)
}

// Open opens a meter of this kind on the serial port at port. The caller
// must Close it.
func (k Kind) Open(ctx context.Context, port string, opts Options) (power.Meter, error) {
	return k.open(ctx, port, opts)
}

// OpenSimulated starts a simulated meter of kind name behind a fresh
// pseudo-terminal, measuring wave, and opens it with the kind's real
// driver, marked simulated. The returned function closes the driver and
// then the simulated meter; the caller must call it.
func OpenSimulated(ctx context.Context, name string, wave power.Waveform, opts Options, so SimOptions) (power.Meter, func(), error) {
	k, err := Lookup(name)
	if err != nil {
		return nil, nil, err
	}
	return k.OpenSimulated(ctx, wave, opts, so)
}

// OpenSimulated is the package-level OpenSimulated for this kind.
func (k Kind) OpenSimulated(ctx context.Context, wave power.Waveform, opts Options, so SimOptions) (power.Meter, func(), error) {
	path, stop, err := k.serve(wave, so)
	if err != nil {
		return nil, nil, err
	}
	opts.Simulated = true
	if opts.Timeout == 0 {
		// A simulated meter streams from a goroutine of this process: a
		// second of silence there is a loaded host (a -race test run
		// beside QEMU), not a meter that stopped.
		opts.Timeout = 5 * time.Second
	}
	m, err := k.open(ctx, path, opts)
	if err != nil {
		stop()
		return nil, nil, err
	}
	return m, func() { m.Close(); stop() }, nil
}

// CheckSupply reports whether v (0 meaning the default) is a supply this
// kind can source, and if not, why.
func (k Kind) CheckSupply(v power.Voltage) error {
	if v == 0 || (v >= k.MinSupply-1e-9 && v <= k.MaxSupply+1e-9) {
		return nil
	}
	return fmt.Errorf("supply %gV outside the %s's %g–%gV", float64(v), k.Short, float64(k.MinSupply), float64(k.MaxSupply))
}

// CheckLogicBit reports whether a board's GPIO may be wired to logic input
// D<bit> of this kind, and if not, what to wire instead. Bit 0 is always
// accepted: it is the default, and for a meter without logic inputs it
// means the event input.
func (k Kind) CheckLogicBit(bit uint) error {
	switch {
	case k.LogicInputs == 0 && bit != 0:
		return fmt.Errorf("logic-bit %d: the %s has no logic inputs: wire the board's GPIO to its %s and remove logic-bit", bit, k.Short, k.EventInput)
	case k.LogicInputs > 0 && bit >= k.LogicInputs:
		return fmt.Errorf("logic-bit %d: the %s has inputs D0–D%d", bit, k.Short, k.LogicInputs-1)
	}
	return nil
}
