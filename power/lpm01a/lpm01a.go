// Package lpm01a drives an ST X-NUCLEO-LPM01A (PowerShield), the meter
// MLPerf Tiny's energy runner uses, over its USB virtual COM port.
//
// The protocol is ASCII: commands end in "\r\n"; the meter answers
// "\r\nPowerShield > ack <command>\r\n\r\n", or "error <command>" followed by
// an "Error detail: …" line. After "start" it streams samples, as ascii_dec
// lines ("6409-07") with "TimeStamp" lines once a second and "event NN"
// lines for edges on its D7 input, or as bin_hexa 16-bit words, until
// "stop" and "Acquisition completed". Sources: the command reference in
// mlcommons/tiny benchmark/runner/power_manager/power_manager_lpm.py and
// the byte-exact exchanges of a public LPM01 Python driver
// (shared/research/profiling_anchors.md §1.7, §2.2). The bin_hexa metadata
// blocks (a byte ≥ 0xF0 at a sample boundary up to 0xFF 0xFF) are skipped;
// their contents are not documented in those sources, so timestamps and
// events are only decoded in ascii_dec.
package lpm01a

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/tinyprof/tinyprof/power"
	"github.com/tinyprof/tinyprof/serialport"
)

// Baud is the PowerShield's VCP rate.
const Baud = 3686400

// MinFirmware is the oldest firmware the EEMBC runner supports.
var MinFirmware = [3]int{1, 0, 6}

// Format is the sample format on the wire.
type Format int

// The formats.
const (
	ASCII  Format = iota // ascii_dec: readable, ≤ 5 kHz for unlimited acquisitions, carries timestamps and events
	Binary               // bin_hexa: up to 100 kHz
)

func (f Format) String() string {
	if f == Binary {
		return "bin_hexa"
	}
	return "ascii_dec"
}

// Rates are the sampling rates the PowerShield accepts, in Hz.
var Rates = []int{100000, 50000, 20000, 10000, 5000, 2000, 1000, 500, 200, 100, 50, 20, 10, 5, 2, 1}

// Options configure an LPM01A.
type Options struct {
	// Supply is the voltage it sources, 1.8–3.3 V; default 3.3 V.
	Supply power.Voltage
	// Rate is the sampling rate in Hz, one of Rates; default 1000.
	Rate int
	// Format is ASCII (default) or Binary.
	Format Format
	// EventEdge is the D7 edge that marks a timestamp event, "fal"
	// (default, as MLPerf Tiny) or "ris".
	EventEdge string
	// Timeout bounds each answer and each silence while streaming;
	// default 1 s plus two sample periods.
	Timeout time.Duration
	// Simulated marks a simulated meter in Info.
	Simulated bool
}

func (o *Options) defaults() error {
	if o.Supply == 0 {
		o.Supply = 3300 * power.Millivolt
	}
	if o.Rate == 0 {
		o.Rate = 1000
	}
	if o.EventEdge == "" {
		o.EventEdge = "fal"
	}
	if o.Timeout <= 0 {
		o.Timeout = time.Second + 2*time.Second/time.Duration(o.Rate)
	}
	switch {
	case o.Supply < 1.8-1e-9 || o.Supply > 3.3+1e-9:
		return badArg("supply %v outside the PowerShield's 1.8–3.3V", o.Supply)
	case !slices.Contains(Rates, o.Rate):
		return badArg("rate %d Hz: the PowerShield takes %v", o.Rate, Rates)
	case o.Format == ASCII && o.Rate > 5000:
		return badArg("rate %d Hz in ascii_dec: acquisitions above 5 kHz are cut short at 3.6864 Mbaud; use Binary", o.Rate)
	case o.EventEdge != "fal" && o.EventEdge != "ris":
		return badArg("event edge %q: fal or ris", o.EventEdge)
	}
	return nil
}

func badArg(format string, a ...any) error {
	return &power.Error{Op: "configure", Code: power.CodeBadArgument, Err: fmt.Errorf(format, a...)}
}

// Meter is an LPM01A. It implements power.Meter, power.SupplySetter,
// power.DUTPowerSwitch and power.StatsReporter.
type Meter struct {
	port    io.ReadWriteCloser
	name    string
	opts    Options
	version string
	id      string
	events  bool

	buf     []byte
	pending []byte
	ready   []power.Sample
	running bool

	index  int64
	gap    bool
	marker bool
	stats  power.Stats
}

// Open opens the PowerShield on the serial port at path, takes control of
// it and configures it. The caller must Close it, which hands control back.
func Open(ctx context.Context, path string, opts Options) (*Meter, error) {
	port, err := serialport.Open(ctx, path, Baud)
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

// New configures a PowerShield on an open port, whose Read must return an
// error satisfying os.ErrDeadlineExceeded after a short quiet spell. It
// sends MLPerf Tiny's setup sequence with output current: htc, version
// (at least MinFirmware), powershield, pwr off, acqtime inf, trigdelay 0,
// trigsrc sw, eventsrc d7, output current, format, freq, volt, pwr on.
// On success the Meter owns port.
func New(ctx context.Context, port io.ReadWriteCloser, name string, opts Options) (*Meter, error) {
	if err := opts.defaults(); err != nil {
		return nil, err
	}
	m := &Meter{port: port, name: name, opts: opts, buf: make([]byte, 16<<10)}
	if _, err := m.Command(ctx, "htc"); err != nil {
		return nil, err
	}
	v, err := m.Command(ctx, "version")
	if err != nil {
		return nil, err
	}
	if err := checkVersion(v); err != nil {
		return nil, &power.Error{Op: "version", Meter: m.meterName(), Code: power.CodeProtocol, Err: err,
			Hint: fmt.Sprintf("update the PowerShield firmware to %d.%d.%d or later (STM32CubeMonitor-Power)", MinFirmware[0], MinFirmware[1], MinFirmware[2])}
	}
	m.version = v
	if id, err := m.Command(ctx, "powershield"); err == nil {
		m.id = id
	}
	for _, c := range []string{"pwr off", "acqtime inf", "trigdelay 0", "trigsrc sw"} {
		if _, err := m.Command(ctx, c); err != nil {
			return nil, err
		}
	}
	if opts.Format == ASCII {
		// Not in the PowerShield's help table, but MLPerf Tiny sends it;
		// firmware without it simply gives no events.
		_, err := m.Command(ctx, "eventsrc d7 "+opts.EventEdge)
		var pe *power.Error
		if err != nil && !(errors.As(err, &pe) && pe.Code == power.CodeRemote) {
			return nil, err
		}
		m.events = err == nil
	}
	for _, c := range []string{"output current", "format " + opts.Format.String(), "freq " + rateArg(opts.Rate)} {
		if _, err := m.Command(ctx, c); err != nil {
			return nil, err
		}
	}
	if err := m.SetSupply(ctx, opts.Supply); err != nil {
		return nil, err
	}
	if err := m.SetDUTPower(ctx, true); err != nil {
		return nil, err
	}
	return m, nil
}

func rateArg(hz int) string {
	if hz >= 1000 {
		return strconv.Itoa(hz/1000) + "k"
	}
	return strconv.Itoa(hz)
}

func checkVersion(v string) error {
	f := strings.Fields(v)
	if len(f) == 0 {
		return errors.New("the meter did not say its firmware version")
	}
	parts := strings.Split(strings.TrimPrefix(f[len(f)-1], "v"), ".")
	if len(parts) != 3 {
		return fmt.Errorf("firmware version %q is not major.minor.patch", clip(v))
	}
	var got [3]int
	for i, p := range parts {
		n, err := strconv.Atoi(p)
		if err != nil {
			return fmt.Errorf("firmware version %q is not major.minor.patch", clip(v))
		}
		got[i] = n
	}
	if slices.Compare(got[:], MinFirmware[:]) < 0 {
		return fmt.Errorf("firmware %d.%d.%d is older than %d.%d.%d", got[0], got[1], got[2], MinFirmware[0], MinFirmware[1], MinFirmware[2])
	}
	return nil
}

func (m *Meter) meterName() string { return "lpm01a " + m.name }

// Info identifies the meter.
func (m *Meter) Info() power.Info {
	return power.Info{Kind: "lpm01a", Port: m.name, ID: m.id, Firmware: m.version, Rate: float64(m.opts.Rate), Simulated: m.opts.Simulated}
}

// Events reports whether samples carry D7 timestamp events (Sample.Marker).
func (m *Meter) Events() bool { return m.events }

// SetSupply sets the voltage the PowerShield sources ("volt NNNNm").
func (m *Meter) SetSupply(ctx context.Context, v power.Voltage) error {
	if v < 1.8-1e-9 || v > 3.3+1e-9 {
		return &power.Error{Op: "set supply", Meter: m.meterName(), Code: power.CodeBadArgument, Err: fmt.Errorf("%v outside the PowerShield's 1.8–3.3V", v)}
	}
	mv := int(float64(v)*1000 + 0.5)
	if _, err := m.Command(ctx, fmt.Sprintf("volt %dm", mv)); err != nil {
		return err
	}
	m.opts.Supply = power.Voltage(mv) * power.Millivolt
	return nil
}

// SetDUTPower switches the target's supply ("pwr on" / "pwr off").
func (m *Meter) SetDUTPower(ctx context.Context, on bool) error {
	c := "pwr off"
	if on {
		c = "pwr on"
	}
	_, err := m.Command(ctx, c)
	return err
}

// maxReply bounds what the driver reads while waiting for one answer.
const maxReply = 64 << 10

// Command sends one command line and waits for its acknowledgement,
// returning the text after "ack <command>". A refusal is a *power.Error
// with code CodeRemote carrying the meter's "Error detail".
func (m *Meter) Command(ctx context.Context, cmd string) (string, error) {
	if err := m.write(ctx, cmd, cmd+"\r\n"); err != nil {
		return "", err
	}
	deadline := time.Now().Add(m.opts.Timeout)
	read := 0
	refused := false
	for {
		line, rest, ok := splitLine(m.pending)
		if ok {
			m.pending = rest
			s := strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(string(line)), prompt))
			switch {
			case refused && strings.HasPrefix(s, "Error detail"):
				detail := strings.TrimSpace(strings.TrimPrefix(strings.TrimPrefix(s, "Error detail"), ":"))
				return "", &power.Error{Op: cmd, Meter: m.meterName(), Code: power.CodeRemote, Err: errors.New(detail),
					Hint: "the PowerShield refused the command: check the value against its range (`help` on the meter)"}
			case strings.HasPrefix(s, "ack "+cmd):
				return strings.TrimSpace(strings.TrimPrefix(s, "ack "+cmd)), nil
			case strings.HasPrefix(s, "error "+cmd) || s == "error":
				refused = true
			}
			continue
		}
		if read > maxReply {
			return "", &power.Error{Op: cmd, Meter: m.meterName(), Code: power.CodeProtocol,
				Err: fmt.Errorf("%d bytes without an acknowledgement", read), Hint: "this port does not answer like a PowerShield: check --port and the baud rate (3686400)"}
		}
		if time.Now().After(deadline) {
			what := "no answer"
			if refused {
				what = "an error without its detail"
			} else if read > 0 {
				what = fmt.Sprintf("%d bytes but no acknowledgement", read)
			}
			return "", &power.Error{Op: cmd, Meter: m.meterName(), Code: power.CodeTimeout, Err: fmt.Errorf("%s within %v", what, m.opts.Timeout),
				Hint: "is this a PowerShield? check --port; if another tool holds it, close it; press its reset button"}
		}
		n, err := m.fill(ctx)
		read += n
		if err != nil {
			return "", err
		}
	}
}

// fill reads once from the port into pending.
func (m *Meter) fill(ctx context.Context) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, &power.Error{Op: "read", Meter: m.meterName(), Code: power.CodeTimeout, Err: err}
	}
	n, err := m.port.Read(m.buf)
	m.pending = append(m.pending, m.buf[:n]...)
	if err != nil && !errors.Is(err, os.ErrDeadlineExceeded) {
		return n, &power.Error{Op: "read", Meter: m.meterName(), Code: power.CodeClosed, Err: err, Hint: "the PowerShield was unplugged or reset"}
	}
	return n, nil
}

func (m *Meter) write(ctx context.Context, op, s string) error {
	if err := ctx.Err(); err != nil {
		return &power.Error{Op: op, Meter: m.meterName(), Code: power.CodeTimeout, Err: err}
	}
	if _, err := m.port.Write([]byte(s)); err != nil {
		return &power.Error{Op: op, Meter: m.meterName(), Code: power.CodeClosed, Err: err, Hint: "the PowerShield was unplugged or reset"}
	}
	return nil
}

// Start starts an acquisition. Sample times restart at zero.
func (m *Meter) Start(ctx context.Context) error {
	m.index, m.gap, m.marker, m.stats = 0, false, false, power.Stats{}
	m.ready = m.ready[:0]
	if _, err := m.Command(ctx, "start"); err != nil {
		return err
	}
	// The acknowledgement ends with an empty line; in bin_hexa it must
	// not be taken for a sample.
	for try := 0; len(m.pending) < 2 && try < 3; try++ {
		if _, err := m.fill(ctx); err != nil {
			return err
		}
	}
	if bytes.HasPrefix(m.pending, []byte("\r\n")) {
		m.pending = m.pending[2:]
	}
	m.running = true
	return nil
}

// Stats counts samples, lost samples and undecodable lines since Start.
func (m *Meter) Stats() power.Stats { return m.stats }

// Read returns the next samples. It fails with power.ErrTimeout when
// nothing arrives for Options.Timeout, and with power.ErrRemote when the
// meter reports an error mid-acquisition.
func (m *Meter) Read(ctx context.Context, dst []power.Sample) (int, error) {
	if !m.running {
		return 0, &power.Error{Op: "read", Meter: m.meterName(), Code: power.CodeBadArgument, Err: errors.New("not started"), Hint: "call Start first"}
	}
	quiet := time.Now()
	for len(m.ready) == 0 {
		if err := m.decode(); err != nil {
			return 0, err
		}
		if len(m.ready) > 0 {
			break
		}
		n, err := m.fill(ctx)
		if err != nil {
			return 0, err
		}
		if n > 0 {
			quiet = time.Now()
		} else if time.Since(quiet) >= m.opts.Timeout {
			return 0, &power.Error{Op: "read", Meter: m.meterName(), Code: power.CodeTimeout, Err: fmt.Errorf("no sample for %v", m.opts.Timeout),
				Hint: "the PowerShield stopped streaming: check its USB cable and LCD; press reset"}
		}
	}
	n := copy(dst, m.ready)
	m.ready = m.ready[:copy(m.ready, m.ready[n:])]
	return n, nil
}

// Stop ends the acquisition and waits for "Acquisition completed",
// discarding samples in flight.
func (m *Meter) Stop(ctx context.Context) error {
	m.running = false
	m.ready = m.ready[:0]
	if err := m.write(ctx, "stop", "stop\r\n"); err != nil {
		return err
	}
	deadline := time.Now().Add(m.opts.Timeout)
	for !bytes.Contains(m.pending, []byte("Acquisition completed")) {
		if time.Now().After(deadline) {
			return &power.Error{Op: "stop", Meter: m.meterName(), Code: power.CodeTimeout,
				Err: fmt.Errorf("no \"Acquisition completed\" within %v", m.opts.Timeout), Hint: "the PowerShield stopped answering: press its reset button"}
		}
		if len(m.pending) > maxReply {
			m.pending = m.pending[len(m.pending)-64:]
		}
		if _, err := m.fill(ctx); err != nil {
			return err
		}
	}
	i := bytes.Index(m.pending, []byte("Acquisition completed"))
	m.pending = m.pending[i:]
	if _, rest, ok := splitLine(m.pending); ok {
		m.pending = rest
	} else {
		m.pending = m.pending[:0]
	}
	return nil
}

// Close stops any acquisition, hands control back to the PowerShield
// ("hrc") and closes the port.
func (m *Meter) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), m.opts.Timeout)
	defer cancel()
	if m.running {
		_ = m.Stop(ctx)
	}
	_, _ = m.Command(ctx, "hrc")
	return m.port.Close()
}
