package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/tinyprof/tinyprof/device"
	"github.com/tinyprof/tinyprof/journal"
	"github.com/tinyprof/tinyprof/monitor"
	"github.com/tinyprof/tinyprof/power"
	"github.com/tinyprof/tinyprof/power/meters"
	"github.com/tinyprof/tinyprof/runbook"
)

func newMonitor() *cobra.Command {
	var bf target
	var alerts string
	var interval, duration time.Duration
	var asJSON bool
	var meterKind, meterPort string
	var supply float64
	c := &cobra.Command{
		Use:   "monitor --device PATH|ID [--alerts FILE]",
		Short: "Stream heap, CPU load and power live, evaluating alert rules",
		Long: `monitor polls the board's metrics every --interval and shows heap, PSRAM, CPU
load and power: a live view on a terminal, JSON lines otherwise (or with
--json), until interrupted or --duration passes. --alerts reads rules shaped
like the incident runbook's alerts block:

  alerts:
    memory_usage:
      threshold: "> 90% of device capacity"
      severity: P1
    device_connection_failure_rate:
      threshold: "> 5% over 5 minutes"
      severity: P2
    cpu_hot:
      metric: cpu_load
      threshold: "> 80% over 30 seconds"
      severity: P3

A rate is the share of failed polls among however many polls its window
holds; monitor says at start when a window holds so few polls at --interval
that one failed poll crosses the threshold. Alerts firing and clearing are
printed and journalled. Metrics: heap_used,
heap_free, psram_used, cpu_load, power, connection_failure_rate.`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			if interval <= 0 || duration < 0 {
				return usageError{fmt.Errorf("--interval must be positive and --duration not negative")}
			}
			var set *monitor.RuleSet
			if alerts != "" {
				var err error
				if set, err = monitor.LoadRules(alerts); err != nil {
					return usageError{err}
				}
				for _, s := range set.Skipped {
					fmt.Fprintf(c.ErrOrStderr(), "%s:%d: rule %s not evaluated: %s\n", alerts, s.Line, s.Name, s.Reason)
				}
				for _, r := range set.Rules {
					if note := r.PollNote(interval); note != "" {
						fmt.Fprintf(c.ErrOrStderr(), "%s:%d: %s\n", alerts, r.Line, note)
					}
				}
			}
			dev, closeFn, label, err := bf.open(c.Context(), device.Options{})
			if err != nil {
				return err
			}
			defer closeFn()
			// --duration is of monitoring: connecting has its own time-outs.
			ctx := c.Context()
			if duration > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, duration)
				defer cancel()
			}
			entry, _ := bf.entry() // it resolved a moment ago in open
			board := boardIdentity(entry, bf.inventory)
			polls := &pollRuns{c: c, board: board, details: boardDetails(entry, board)}
			defer polls.flush()
			opts := monitor.Options{Interval: interval, Board: label}
			if meterKind != "" || meterPort != "" {
				if meterKind == "" || meterPort == "" {
					return usageError{fmt.Errorf("--meter KIND and --meter-port PATH go together")}
				}
				meter, err := meters.Open(ctx, meterKind, meterPort, meters.Options{Supply: power.Voltage(supply)})
				if err != nil {
					return err
				}
				defer meter.Close()
				avg, err := power.Average(ctx, meter)
				if err != nil {
					return err
				}
				defer avg.Stop(context.Background())
				opts.Power = avg
			}
			if set != nil {
				opts.Rules = set.Rules
			}
			m := monitor.New(dev, opts)
			out := c.OutOrStdout()
			live := !asJSON && isTerminal(out)
			enc := json.NewEncoder(out)
			return m.Run(ctx, func(u monitor.Update) error {
				polls.add(u.Sample)
				for _, a := range u.Alerts {
					ev := journal.Event{Board: board, Kind: journal.KindAlert, Severity: a.Severity, Message: a.Message,
						Details: map[string]any{"rule": a.Rule, "state": string(a.State), "value": a.Value, "threshold": a.Threshold, "metric": string(a.Metric)}}
					for k, v := range polls.details {
						ev.Details[k] = v
					}
					if a.State == monitor.Cleared {
						ev.Severity = runbook.Info
					}
					record(c, ev)
					if !live {
						fmt.Fprintf(c.ErrOrStderr(), "alert %s: %s\n", a.State, a.Message)
					}
				}
				if live {
					drawMonitor(out, label, u)
					return nil
				}
				return enc.Encode(u)
			})
		},
	}
	bf.flags(c)
	c.Flags().StringVar(&alerts, "alerts", "", "alert rules (YAML shaped like the runbook's alerts block)")
	c.Flags().DurationVar(&interval, "interval", time.Second, "time between polls")
	c.Flags().DurationVar(&duration, "duration", 0, "stop after this long (default: until interrupted)")
	c.Flags().BoolVar(&asJSON, "json", false, "print JSON lines even on a terminal")
	c.Flags().StringVar(&meterKind, "meter", "", "show live power from a meter on the board's supply: ppk2 or lpm01a")
	c.Flags().StringVar(&meterPort, "meter-port", "", "the meter's serial port, with --meter")
	c.Flags().Float64Var(&supply, "supply", 3.3, "supply voltage the meter sources (V), with --meter")
	return c
}

// pollRuns journals a monitor's polls as connection attempts, one event
// for each run of answered or failed polls (a poll a second would flood
// the journal), so that a monitor that lost its board for 12 s counts
// toward the runbook's connection failure rate with its real share of
// polls.
type pollRuns struct {
	c       *cobra.Command
	board   string
	details map[string]any
	ok      bool // whether the current run answered
	n       int  // polls in the current run
	first   time.Time
	last    monitor.Sample
}

// add counts s, journalling the run it ends.
func (p *pollRuns) add(s monitor.Sample) {
	if p.n > 0 && s.OK != p.ok {
		p.flush()
	}
	if p.n == 0 {
		p.ok, p.first = s.OK, s.Time
	}
	p.n++
	p.last = s
	if s.Simulated {
		p.details["simulated"] = true // the board says so, whatever named it
	}
}

// flush journals the current run, if any.
func (p *pollRuns) flush() {
	if p.n == 0 {
		return
	}
	ev := journal.Event{Board: p.board, Kind: journal.KindConnect, Severity: runbook.Info,
		Details: map[string]any{"ok": p.ok, "attempts": p.n, "failed": 0, "command": "tiny-profiler monitor"}}
	for k, v := range p.details {
		ev.Details[k] = v
	}
	if !p.ok {
		lost := p.last.Time.Sub(p.first).Round(100 * time.Millisecond)
		ev.Severity, ev.Details["failed"] = runbook.Error, p.n
		ev.Message = fmt.Sprintf("monitor: no answer for %v (%s failed): %s", lost, countOf(p.n, "poll", "polls"), p.last.Error)
		ev.Details["error"] = p.last.Error
	}
	record(p.c, ev)
	p.n = 0
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// drawMonitor redraws the live view.
func drawMonitor(w io.Writer, label string, u monitor.Update) {
	var b strings.Builder
	b.WriteString("\033[H\033[2J")
	s := u.Sample
	fmt.Fprintf(&b, "tiny-profiler monitor — %s — %s\n", label, s.Time.Format("15:04:05"))
	if s.Simulated {
		b.WriteString("simulated board: figures are modelled, not measured\n")
	}
	b.WriteString("\n")
	if !s.OK {
		fmt.Fprintf(&b, "  no answer: %s\n", s.Error)
	} else {
		fmt.Fprintf(&b, "  heap   %s %s used of %s\n", bar(float64(s.HeapUsed), float64(s.HeapCapacity)), kib(s.HeapUsed), kib(s.HeapCapacity))
		if s.PSRAMCapacity > 0 {
			fmt.Fprintf(&b, "  psram  %s %s used of %s\n", bar(float64(s.PSRAMUsed), float64(s.PSRAMCapacity)), kib(s.PSRAMUsed), kib(s.PSRAMCapacity))
		}
		fmt.Fprintf(&b, "  cpu    %s %.1f%%\n", bar(s.CPULoad, 100), s.CPULoad)
		switch {
		case s.HasPower:
			fmt.Fprintf(&b, "  power  %.1f mW (%s)\n", s.PowerMW, s.PowerSource)
		case s.PowerError != "":
			fmt.Fprintf(&b, "  power  no reading: %s\n", s.PowerError)
		default:
			b.WriteString("  power  not measured by this board\n")
		}
	}
	b.WriteString("\n")
	if len(u.Firing) == 0 {
		b.WriteString("  alerts: none firing\n")
	} else {
		fmt.Fprintf(&b, "  alerts firing: %s\n", strings.Join(u.Firing, ", "))
	}
	for _, a := range u.Alerts {
		fmt.Fprintf(&b, "  %s %s\n", a.State, a.Message)
	}
	b.WriteString("\nCtrl-C to stop\n")
	io.WriteString(w, b.String())
}

func bar(v, total float64) string {
	const width = 30
	n := 0
	if total > 0 {
		n = int(v / total * width)
	}
	n = min(max(n, 0), width)
	return "[" + strings.Repeat("#", n) + strings.Repeat(" ", width-n) + "]"
}
