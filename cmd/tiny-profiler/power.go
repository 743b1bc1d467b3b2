package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/tinyprof/tinyprof/platform"
	"github.com/tinyprof/tinyprof/power"
	"github.com/tinyprof/tinyprof/power/meters"
	"github.com/tinyprof/tinyprof/power/powermodel"
)

// powerFlags are the power command's options.
type powerFlags struct {
	meter, port, simMeter string
	duration, interval    time.Duration
	supply                float64
	rate                  int
	timeout               time.Duration
	asJSON                bool
	output                string
}

// powerInterval is one line of live output.
type powerInterval struct {
	End     time.Duration `json:"end_ns"`
	Current power.Current `json:"current_a"`
	Power   power.Power   `json:"power_w"`
	Peak    power.Power   `json:"peak_w"`
	Energy  power.Energy  `json:"energy_j"`
	Samples int           `json:"samples"`
}

// powerReport is the JSON form (schema tinyprof.power/v1).
type powerReport struct {
	Schema    string          `json:"schema"`
	Meter     power.Info      `json:"meter"`
	Source    string          `json:"source"`
	Supply    power.Voltage   `json:"supply_v"`
	Duration  time.Duration   `json:"duration_ns"`
	Samples   int             `json:"samples"`
	Stats     power.Stats     `json:"stats"`
	Current   power.Current   `json:"average_current_a"`
	Power     power.Power     `json:"average_power_w"`
	Peak      power.Power     `json:"peak_power_w"`
	Energy    power.Energy    `json:"energy_j"`
	Intervals []powerInterval `json:"intervals"`
}

func newPower() *cobra.Command {
	var f powerFlags
	c := &cobra.Command{
		Use:   "power",
		Short: "Read a power meter (Nordic PPK2, ST LPM01A) and show live current, power and energy",
		Long: `power reads a Nordic Power Profiler Kit II or an ST X-NUCLEO-LPM01A over its
serial port for --duration and prints current, power and energy every
--interval, then a summary. The meter powers the board at --supply.
--sim-meter ppk2|lpm01a uses a simulated meter wired to a modelled ESP32-S3
that runs a generation every 200 ms; its figures are modelled, not measured.`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			if err := f.check(); err != nil {
				return err
			}
			ctx := c.Context()
			m, closeMeter, err := f.open(ctx)
			if err != nil {
				return err
			}
			defer closeMeter()
			live := c.OutOrStdout()
			if f.asJSON || f.output != "" {
				live = io.Discard
			}
			rep, err := readPower(ctx, m, f, live)
			if err != nil {
				return err
			}
			if f.output != "" {
				return writeFileAtomic(f.output, func(w io.Writer) error { return writeJSON(w, rep) })
			}
			if f.asJSON {
				return writeJSON(c.OutOrStdout(), rep)
			}
			printPowerSummary(c.OutOrStdout(), rep)
			return nil
		},
	}
	c.Flags().StringVar(&f.meter, "meter", "", "meter kind: ppk2 or lpm01a")
	c.Flags().StringVar(&f.port, "port", "", "serial port of the meter, e.g. /dev/ttyACM1 or /dev/serial/by-id/…")
	c.Flags().StringVar(&f.simMeter, "sim-meter", "", "use a simulated meter of this kind (figures are modelled, not measured)")
	c.Flags().DurationVar(&f.duration, "duration", time.Second, "how long to read, on the meter's clock")
	c.Flags().DurationVar(&f.interval, "interval", 100*time.Millisecond, "how often to print a line")
	c.Flags().Float64Var(&f.supply, "supply", 3.3, "supply voltage the meter sources, in volts (PPK2 0.8–5, LPM01A 1.8–3.3)")
	c.Flags().IntVar(&f.rate, "rate", 1000, "LPM01A sampling rate in Hz (the PPK2 always samples at 100 kHz)")
	c.Flags().DurationVar(&f.timeout, "timeout", time.Second, "how long to wait for each answer from the meter")
	c.Flags().BoolVar(&f.asJSON, "json", false, "print JSON (schema tinyprof.power/v1)")
	c.Flags().StringVar(&f.output, "output", "", "write the JSON report to FILE (atomically)")
	return c
}

func (f *powerFlags) check() error {
	kind := f.meter
	switch {
	case f.simMeter != "" && (f.meter != "" || f.port != ""):
		return usageError{fmt.Errorf("--sim-meter excludes --meter and --port: name one meter")}
	case f.simMeter == "" && (f.meter == "" || f.port == ""):
		return usageError{fmt.Errorf("name a meter with --meter %[1]s --port PATH, or --sim-meter %[1]s for a simulated one", strings.Join(meters.Names(), "|"))}
	case f.simMeter != "":
		kind = f.simMeter
	}
	if _, err := meters.Lookup(kind); err != nil {
		return usageError{err}
	}
	switch {
	case f.duration <= 0 || f.interval <= 0 || f.timeout <= 0:
		return usageError{fmt.Errorf("--duration, --interval and --timeout must be positive")}
	case f.duration > 24*time.Hour:
		return usageError{fmt.Errorf("--duration %v: at most 24h", f.duration)}
	}
	return nil
}

// open opens the meter, starting a simulated one first if asked. The
// returned function closes the meter and anything open started for it.
func (f *powerFlags) open(ctx context.Context) (power.Meter, func(), error) {
	opts := meters.Options{Supply: power.Voltage(f.supply), Rate: f.rate, Timeout: f.timeout, PowerDUT: true}
	var m power.Meter
	var closeMeter func()
	var err error
	if f.simMeter != "" {
		var wave power.Waveform
		if wave, err = demoWaveform(opts.Supply); err == nil {
			m, closeMeter, err = meters.OpenSimulated(ctx, f.simMeter, wave, opts, meters.SimOptions{Paced: true})
		}
	} else if m, err = meters.Open(ctx, f.meter, f.port, opts); err == nil {
		closeMeter = func() { m.Close() }
	}
	if err != nil {
		var pe *power.Error
		if asPowerError(err, &pe) && pe.Code == power.CodeBadArgument {
			return nil, nil, usageError{err}
		}
		return nil, nil, err
	}
	return m, closeMeter, nil
}

// knownMeter reports whether kind is in the meter registry.
func knownMeter(kind string) bool {
	_, err := meters.Lookup(kind)
	return err == nil
}

// demoWaveform is the simulated meter's device: a modelled ESP32-S3 at
// supply that idles and, 100 ms in every 200 ms, decodes on one core from
// PSRAM with its GPIO (meter logic D0) raised.
func demoWaveform(supply power.Voltage) (power.Waveform, error) {
	p, err := platform.Lookup("esp32s3")
	if err != nil {
		return nil, err
	}
	model, err := powermodel.Board(p)
	if err != nil {
		return nil, err
	}
	scale := float64(model.Supply) / float64(supply) // same power at another supply
	idle := model.Current(powermodel.Activity{}) * power.Current(scale)
	active := model.Current(powermodel.Activity{Cores: 1, PSRAMBytesPerSec: p.Bandwidth.PSRAM}) * power.Current(scale)
	return func(t time.Duration) power.Reading {
		if t%(200*time.Millisecond) >= 100*time.Millisecond {
			return power.Reading{Current: active, Logic: 1}
		}
		return power.Reading{Current: idle}
	}, nil
}

// readPower reads until the meter's clock passes f.duration, printing a
// line to live every f.interval of meter time. It keeps one interval of
// samples at a time.
func readPower(ctx context.Context, m power.Meter, f powerFlags, live io.Writer) (*powerReport, error) {
	info := m.Info()
	rep := &powerReport{Schema: "tinyprof.power/v1", Meter: info, Source: source(info), Supply: power.Voltage(f.supply), Intervals: []powerInterval{}}
	fmt.Fprintf(live, "%s on %s (%s)\n", info.Kind, info.Port, rep.Source)
	if err := m.Start(ctx); err != nil {
		return nil, err
	}
	buf := make([]power.Sample, 4096)
	var cur []power.Sample // the interval so far, led by the previous interval's last sample
	next := f.interval
	var last power.Sample
	done := false
	for !done {
		n, err := m.Read(ctx, buf)
		if err != nil {
			m.Stop(context.WithoutCancel(ctx))
			return nil, err
		}
		for _, s := range buf[:n] {
			if s.Time > f.duration {
				done = true
				break
			}
			cur = append(cur, s)
			last = s
			if s.Time >= next || s.Time == f.duration {
				iv, err := summarise(cur)
				if err != nil {
					m.Stop(context.WithoutCancel(ctx))
					return nil, err
				}
				rep.Intervals = append(rep.Intervals, iv)
				fmt.Fprintf(live, "%8.3fs  %10v  %10v  peak %10v  %10v\n", iv.End.Seconds(), iv.Current, iv.Power, iv.Peak, iv.Energy)
				cur = append(cur[:0], s)
				for next <= s.Time {
					next += f.interval
				}
			}
		}
	}
	if err := m.Stop(ctx); err != nil {
		return nil, err
	}
	if len(cur) > 1 {
		iv, err := summarise(cur)
		if err == nil {
			rep.Intervals = append(rep.Intervals, iv)
		}
	}
	if s, ok := m.(power.StatsReporter); ok {
		rep.Stats = s.Stats()
	}
	rep.Duration = last.Time
	var samples int
	for _, iv := range rep.Intervals {
		rep.Energy += iv.Energy
		rep.Peak = max(rep.Peak, iv.Peak)
		rep.Current += iv.Current * power.Current(iv.Samples)
		samples += iv.Samples
	}
	if samples == 0 || rep.Duration <= 0 {
		return nil, &power.Error{Op: "read", Meter: info.Kind + " " + info.Port, Code: power.CodeNoSamples,
			Err: fmt.Errorf("no samples in %v", f.duration), Hint: "raise --duration above the sampling period"}
	}
	rep.Current /= power.Current(samples)
	rep.Samples = samples
	rep.Power = power.Power(float64(rep.Energy) / rep.Duration.Seconds())
	return rep, nil
}

// summarise integrates one interval; cur[0] is the previous interval's
// last sample (or the very first sample).
func summarise(cur []power.Sample) (powerInterval, error) {
	w := power.Window{Start: cur[0].Time, End: cur[len(cur)-1].Time}
	iv := powerInterval{End: w.End}
	var sum power.Current
	for _, s := range cur[1:] {
		sum += s.Current
	}
	iv.Samples = len(cur) - 1
	if iv.Samples > 0 {
		iv.Current = sum / power.Current(iv.Samples)
	}
	if w.End <= w.Start {
		return iv, nil
	}
	r, err := power.Integrate(cur, w)
	if err != nil {
		return iv, err
	}
	iv.Power, iv.Peak, iv.Energy = r.Average, r.Peak, r.Energy
	return iv, nil
}

func source(info power.Info) string {
	if info.Simulated {
		return "simulated: modelled, not measured"
	}
	return "measured by the meter"
}

func printPowerSummary(w io.Writer, r *powerReport) {
	id := ""
	if r.Meter.ID != "" {
		id = ", " + r.Meter.ID
	}
	fmt.Fprintf(w, "meter      %s on %s%s (%s)\n", r.Meter.Kind, r.Meter.Port, id, r.Source)
	fmt.Fprintf(w, "samples    %d over %v at %.0f/s (lost %d in %d gaps)\n", r.Samples, r.Duration, r.Meter.Rate, r.Stats.Lost, r.Stats.Gaps)
	fmt.Fprintf(w, "supply     %v\n", r.Supply)
	fmt.Fprintf(w, "current    average %v\n", r.Current)
	fmt.Fprintf(w, "power      average %v, peak %v\n", r.Power, r.Peak)
	fmt.Fprintf(w, "energy     %v\n", r.Energy)
}

func asPowerError(err error, target **power.Error) bool { return errors.As(err, target) }
