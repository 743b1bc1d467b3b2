// Package ppk2 drives a Nordic Power Profiler Kit II over its USB serial
// port.
//
// The driver is written from the public description of the protocol
// (shared/research/profiling_anchors.md §2.1: Nordic pc-nrfconnect-ppk
// constants.ts and serialDevice.ts, hdoordt/ppk2-rs, MIT). Commands are raw
// opcode bytes with no framing and no answer, except GetMetadata, which is
// answered by the ASCII calibration block. After AverageStart the PPK2
// streams one little-endian 32-bit word per sample, 100,000 a second.
package ppk2

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/tinyprof/tinyprof/power"
	"github.com/tinyprof/tinyprof/serialport"
)

// Opcodes (first byte of each command).
const (
	OpAverageStart  = 0x06
	OpAverageStop   = 0x07
	OpDeviceRunning = 0x0C // 0x0C 0x01 powers the device under test, 0x00 cuts it
	OpRegulatorSet  = 0x0D // 0x0D hi lo: source voltage in mV, big-endian
	OpSetPowerMode  = 0x11 // 0x11 0x01 ampere meter, 0x11 0x02 source meter
	OpGetMetadata   = 0x19
	OpReset         = 0x20
)

// Mode is how the PPK2 is wired to the device under test.
type Mode int

// The modes.
const (
	// SourceMeter: the PPK2 powers the device at Options.Supply and
	// measures what it draws.
	SourceMeter Mode = iota
	// AmpereMeter: the PPK2 sits in series with the device's own supply;
	// Options.Voltage must declare that supply for power and energy.
	AmpereMeter
)

// Supply limits of the PPK2's regulator.
const (
	MinSupply = 800 * power.Millivolt
	MaxSupply = 5000 * power.Millivolt
)

// Options configure a PPK2.
type Options struct {
	// Mode is SourceMeter (the default) or AmpereMeter.
	Mode Mode
	// Supply is the voltage the PPK2 sources in SourceMeter mode, 0.8–5 V;
	// default 3.3 V.
	Supply power.Voltage
	// Voltage is the device's supply in AmpereMeter mode, which the PPK2
	// does not measure; 0 leaves samples without a voltage.
	Voltage power.Voltage
	// PowerDUT switches the device's power on after configuration.
	PowerDUT bool
	// Timeout bounds each answer and each silence while streaming;
	// default 1 s.
	Timeout time.Duration
	// SpikeFilter applies Nordic's range-switch spike filter; off by
	// default so that samples are the calibrated ADC values.
	SpikeFilter bool
	// Simulated marks a simulated meter in Info.
	Simulated bool
}

func (o *Options) defaults() error {
	if o.Supply == 0 {
		o.Supply = 3300 * power.Millivolt
	}
	if o.Timeout <= 0 {
		o.Timeout = time.Second
	}
	if o.Mode == SourceMeter && (o.Supply < MinSupply-1e-9 || o.Supply > MaxSupply+1e-9) {
		return &power.Error{Op: "configure", Code: power.CodeBadArgument,
			Err: fmt.Errorf("supply %v outside the PPK2's 0.8–5V", o.Supply)}
	}
	return nil
}

// Meter is a PPK2. It implements power.Meter, power.SupplySetter,
// power.DUTPowerSwitch and power.StatsReporter.
type Meter struct {
	port io.ReadWriteCloser
	name string
	opts Options
	cal  Calibration
	dec  *Decoder

	buf     []byte
	ready   []power.Sample
	running bool
}

// Open opens the PPK2 on the serial port at path (locked against other
// processes), reads its calibration and configures it. The caller must
// Close it.
func Open(ctx context.Context, path string, opts Options) (*Meter, error) {
	port, err := serialport.Open(ctx, path, 0)
	if err != nil {
		return nil, err
	}
	m, err := New(ctx, port, path, opts)
	if err != nil {
		port.Close()
		return nil, err
	}
	return m, nil
}

// New configures a PPK2 on an open port, whose Read must return an error
// satisfying os.ErrDeadlineExceeded after a short quiet spell (as
// serialport.Port does): it asks for the metadata block, parses the
// calibration, sets the mode and, in source mode, the voltage. On success
// the Meter owns port.
func New(ctx context.Context, port io.ReadWriteCloser, name string, opts Options) (*Meter, error) {
	if err := opts.defaults(); err != nil {
		return nil, err
	}
	m := &Meter{port: port, name: name, opts: opts, buf: make([]byte, 64<<10)}
	// A PPK2 left streaming by a previous session would bury the
	// metadata in samples: stop it and let the line go quiet.
	if err := m.write(ctx, "stop", OpAverageStop); err != nil {
		return nil, err
	}
	m.drain(ctx, 300*time.Millisecond)
	cal, err := m.readMetadata(ctx)
	if err != nil {
		return nil, err
	}
	m.cal = cal
	mode := byte(2)
	if opts.Mode == AmpereMeter {
		mode = 1
	}
	if err := m.write(ctx, "set mode", OpSetPowerMode, mode); err != nil {
		return nil, err
	}
	if opts.Mode == SourceMeter {
		if err := m.SetSupply(ctx, opts.Supply); err != nil {
			return nil, err
		}
	}
	if opts.PowerDUT {
		if err := m.SetDUTPower(ctx, true); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// Calibration returns the calibration block the PPK2 sent.
func (m *Meter) Calibration() Calibration { return m.cal }

// Info identifies the meter.
func (m *Meter) Info() power.Info {
	return power.Info{Kind: "ppk2", Port: m.name, ID: fmt.Sprintf("HW %d", m.cal.HW), Rate: 1 / SamplePeriod.Seconds(), Logic: true, Simulated: m.opts.Simulated}
}

func (m *Meter) meterName() string { return "ppk2 " + m.name }

// SetSupply sets the voltage the PPK2 sources (RegulatorSet, mV
// big-endian). Samples read afterwards carry it.
func (m *Meter) SetSupply(ctx context.Context, v power.Voltage) error {
	if v < MinSupply-1e-9 || v > MaxSupply+1e-9 {
		return &power.Error{Op: "set supply", Meter: m.meterName(), Code: power.CodeBadArgument, Err: fmt.Errorf("%v outside the PPK2's 0.8–5V", v)}
	}
	mv := uint16(float64(v)*1000 + 0.5)
	if err := m.write(ctx, "set supply", OpRegulatorSet, byte(mv>>8), byte(mv)); err != nil {
		return err
	}
	m.opts.Supply = power.Voltage(mv) * power.Millivolt
	m.cal.VDD = int(mv)
	return nil
}

// SetDUTPower switches the device under test's power (DeviceRunningSet).
func (m *Meter) SetDUTPower(ctx context.Context, on bool) error {
	b := byte(0)
	if on {
		b = 1
	}
	return m.write(ctx, "dut power", OpDeviceRunning, b)
}

// Start starts the sample stream (AverageStart). Sample times restart
// at zero.
func (m *Meter) Start(ctx context.Context) error {
	v := m.opts.Voltage
	if m.opts.Mode == SourceMeter {
		v = m.opts.Supply
	}
	m.dec = NewDecoder(m.cal, v, m.opts.SpikeFilter)
	m.ready = m.ready[:0]
	if err := m.write(ctx, "start", OpAverageStart); err != nil {
		return err
	}
	m.running = true
	return nil
}

// Read returns the next samples. It fails with power.ErrTimeout when no
// byte arrives for Options.Timeout.
func (m *Meter) Read(ctx context.Context, dst []power.Sample) (int, error) {
	if !m.running {
		return 0, &power.Error{Op: "read", Meter: m.meterName(), Code: power.CodeBadArgument, Err: errors.New("not started"), Hint: "call Start first"}
	}
	quiet := time.Now()
	for len(m.ready) == 0 {
		if err := ctx.Err(); err != nil {
			return 0, &power.Error{Op: "read", Meter: m.meterName(), Code: power.CodeTimeout, Err: err}
		}
		n, err := m.port.Read(m.buf)
		if n > 0 {
			quiet = time.Now()
			m.ready = m.dec.Feed(m.ready, m.buf[:n])
		}
		if err != nil && !errors.Is(err, os.ErrDeadlineExceeded) {
			return 0, &power.Error{Op: "read", Meter: m.meterName(), Code: power.CodeClosed, Err: err, Hint: "the PPK2 was unplugged or reset"}
		}
		if n == 0 && time.Since(quiet) >= m.opts.Timeout {
			return 0, &power.Error{Op: "read", Meter: m.meterName(), Code: power.CodeTimeout,
				Err:  fmt.Errorf("no sample for %v", m.opts.Timeout),
				Hint: "the PPK2 stopped streaming: replug it; if it persists, update its firmware"}
		}
	}
	n := copy(dst, m.ready)
	m.ready = m.ready[:copy(m.ready, m.ready[n:])]
	return n, nil
}

// Stats counts samples decoded and lost since Start.
func (m *Meter) Stats() power.Stats {
	if m.dec == nil {
		return power.Stats{}
	}
	return m.dec.Stats
}

// Stop stops the stream (AverageStop) and discards samples in flight.
func (m *Meter) Stop(ctx context.Context) error {
	m.running = false
	if err := m.write(ctx, "stop", OpAverageStop); err != nil {
		return err
	}
	m.drain(ctx, m.opts.Timeout)
	m.ready = m.ready[:0]
	return nil
}

// Close stops sampling and closes the port.
func (m *Meter) Close() error {
	if m.running {
		_ = m.write(context.Background(), "stop", OpAverageStop)
		m.running = false
	}
	return m.port.Close()
}

func (m *Meter) write(ctx context.Context, op string, b ...byte) error {
	if err := ctx.Err(); err != nil {
		return &power.Error{Op: op, Meter: m.meterName(), Code: power.CodeTimeout, Err: err}
	}
	if _, err := m.port.Write(b); err != nil {
		return &power.Error{Op: op, Meter: m.meterName(), Code: power.CodeClosed, Err: err, Hint: "the PPK2 was unplugged or reset"}
	}
	return nil
}

// drain reads and discards until the line has been quiet for one read
// time-out, or limit passes.
func (m *Meter) drain(ctx context.Context, limit time.Duration) {
	end := time.Now().Add(limit)
	for time.Now().Before(end) && ctx.Err() == nil {
		n, err := m.port.Read(m.buf)
		if n == 0 || err != nil {
			return
		}
	}
}

func (m *Meter) readMetadata(ctx context.Context) (Calibration, error) {
	if err := m.write(ctx, "read calibration", OpGetMetadata); err != nil {
		return Calibration{}, err
	}
	var got []byte
	deadline := time.Now().Add(m.opts.Timeout)
	for {
		if i := bytes.Index(got, []byte("END")); i >= 0 {
			cal, err := ParseCalibration(got[:i+3])
			if err != nil {
				err.(*power.Error).Meter = m.meterName()
			}
			return cal, err
		}
		if len(got) > maxMetadata {
			_, err := ParseCalibration(got)
			err.(*power.Error).Meter = m.meterName()
			return Calibration{}, err
		}
		if err := ctx.Err(); err != nil {
			return Calibration{}, &power.Error{Op: "read calibration", Meter: m.meterName(), Code: power.CodeTimeout, Err: err}
		}
		if time.Now().After(deadline) {
			why := "no answer"
			if len(got) > 0 {
				why = fmt.Sprintf("%d bytes but no END line", len(got))
			}
			return Calibration{}, &power.Error{Op: "read calibration", Meter: m.meterName(), Code: power.CodeTimeout,
				Err:  fmt.Errorf("%s to GetMetadata within %v", why, m.opts.Timeout),
				Hint: "is this a PPK2? check the port (the data port is the one whose USB interface ends in 1) and replug it"}
		}
		n, err := m.port.Read(m.buf)
		got = append(got, m.buf[:n]...)
		if err != nil && !errors.Is(err, os.ErrDeadlineExceeded) {
			return Calibration{}, &power.Error{Op: "read calibration", Meter: m.meterName(), Code: power.CodeClosed, Err: err}
		}
	}
}
