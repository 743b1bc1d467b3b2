package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/tinyprof/tinyprof/journal"
	"github.com/tinyprof/tinyprof/lab"
	"github.com/tinyprof/tinyprof/runbook"
)

// stateDir is --state-dir, else TINYPROF_STATE_DIR, else the default.
func stateDir(c *cobra.Command) (string, error) {
	if f := c.Flag("state-dir"); f != nil && f.Value.String() != "" {
		return filepath.Abs(f.Value.String())
	}
	return lab.DefaultStateDir()
}

// openJournal opens the journal in the state directory.
func openJournal(c *cobra.Command) (*journal.Journal, error) {
	dir, err := stateDir(c)
	if err != nil {
		return nil, err
	}
	return journal.Open(filepath.Join(dir, "journal"), journal.Options{})
}

// record appends an event to the journal; a journal that cannot be written
// is reported on stderr, never fatal to the command.
func record(c *cobra.Command, e journal.Event) {
	j, err := openJournal(c)
	if err == nil {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		err = j.Append(ctx, e)
	}
	if err != nil {
		fmt.Fprintf(c.ErrOrStderr(), "tiny-profiler: warning: not journalled: %v\n", err)
	}
}

// journalCommand records one run of a command: its arguments, exit status
// and error. Help and shell completion are not recorded.
func journalCommand(root *cobra.Command, args []string, start time.Time, code int, runErr error) error {
	c, _, err := root.Find(args)
	if err != nil || c == root || c.Name() == "help" || strings.HasPrefix(c.Name(), "__") || c.Name() == "completion" {
		return nil
	}
	if h := c.Flag("help"); h != nil && h.Changed {
		return nil
	}
	j, err := openJournal(c)
	if err != nil {
		return err
	}
	e := journal.Event{Kind: journal.KindCommand, Message: "tiny-profiler " + strings.Join(args, " "),
		Details: map[string]any{"command": c.CommandPath(), "args": args, "exit": code, "seconds": time.Since(start).Seconds()}}
	entry, named := commandBoard(c)
	if named {
		e.Board = boardIdentity(entry, flagValue(c, "inventory"))
		for k, v := range boardDetails(entry, e.Board) {
			e.Details[k] = v
		}
	}
	switch code {
	case 0:
		e.Severity = runbook.Info
	case 2:
		e.Severity = runbook.Warning
	default:
		e.Severity = runbook.Error
	}
	failureDetails(e.Details, runErr)
	events := []journal.Event{e}
	// A command that talks to one board is one connection attempt for the
	// runbook's connection failure rate: it reached the board, or failed
	// as a connection fails. Usage mistakes and failures on the board's
	// merits are no attempt either way; monitor and emergency-reset
	// journal their own attempts.
	if named && code != 2 && connectingCommands[c.Name()] && (runErr == nil || connectionFailure(runErr)) {
		ce := journal.Event{Board: e.Board, Kind: journal.KindConnect, Severity: runbook.Info,
			Details: map[string]any{"ok": runErr == nil, "command": c.CommandPath()}}
		for k, v := range boardDetails(entry, e.Board) {
			ce.Details[k] = v
		}
		if runErr != nil {
			ce.Severity = runbook.Error
			ce.Message = c.Name() + ": connect failed: " + runErr.Error()
			failureDetails(ce.Details, runErr)
		}
		events = append(events, ce)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	return j.Append(ctx, events...)
}

// connectingCommands are the commands that open the one board their
// flags name and whose run journalCommand counts as a connection attempt.
var connectingCommands = map[string]bool{
	"test-connection": true, "system-info": true, "reset-device": true, "debug-device": true, "benchmark": true,
}

// commandBoard returns the board c's flags name (--device, --sim,
// --emulate), and whether they name one. An id that names no board is
// kept as given, so that the journal still says what was asked for.
func commandBoard(c *cobra.Command) (lab.Entry, bool) {
	t := target{device: flagValue(c, "device"), sim: flagValue(c, "sim"), emulate: flagValue(c, "emulate"), inventory: flagValue(c, "inventory"),
		baud: 1, timeout: time.Second} // check's limits on values the command itself has checked
	if t.device == "" && t.sim == "" && t.emulate == "" {
		return lab.Entry{}, false
	}
	e, err := t.entry()
	if err != nil {
		switch {
		case t.device != "":
			return lab.Entry{ID: t.device}, true
		case t.sim != "":
			return lab.Entry{Platform: t.sim, Sim: true}, true
		}
		return lab.Entry{Platform: t.emulate, Emulate: t.emulate}, true
	}
	return e, true
}

// flagValue is c's flag name as text, "" if c has no such flag.
func flagValue(c *cobra.Command, name string) string {
	if f := c.Flags().Lookup(name); f != nil {
		return f.Value.String()
	}
	return ""
}

// window reads --since and --until.
func window(since, until string, now time.Time) (time.Time, time.Time, error) {
	s, err := runbook.ParseTime(since, now)
	if err != nil {
		return s, s, usageError{fmt.Errorf("--since: %w", err)}
	}
	u := now
	if until != "" {
		if u, err = runbook.ParseTime(until, now); err != nil {
			return s, u, usageError{fmt.Errorf("--until: %w", err)}
		}
	}
	if !s.Before(u) {
		return s, u, usageError{fmt.Errorf("--since %s is not before --until %s", s.Format(time.RFC3339), u.Format(time.RFC3339))}
	}
	return s, u, nil
}

func newIncidentReport() *cobra.Command {
	var since, until, output string
	c := &cobra.Command{
		Use:   "generate-incident-report",
		Short: "Write a Markdown incident report from the journal: timeline, boards, runbook thresholds, severity, first actions",
		Long: `generate-incident-report reads the journal in the state directory for a window
(--since "2 hours ago", or RFC 3339; --until, default now) and writes a Markdown
report: the timeline, the boards affected, failure rates measured against the
incident runbook's thresholds (device connection failures > 5% over 5 minutes:
P2; model loading failures > 10% over 10 minutes: P1; inference p95 > 2x
baseline: P2; memory > 90% of capacity: P1), the severity that follows and the
runbook's first action for each kind of incident. The severity names the
thresholds crossed or alerts fired it comes from. Connection attempts are
counted from every command that talks to a board (test-connection,
emergency-reset, health-check, a monitor's polls…), and each board appears
once, by inventory id, USB serial number or port, marked when simulated or
emulated. The report is written atomically to the state directory's reports/
unless --output names a file ("-" for stdout).`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			now := time.Now()
			s, u, err := window(since, until, now)
			if err != nil {
				return err
			}
			j, err := openJournal(c)
			if err != nil {
				return err
			}
			// Earlier events serve as latency baselines.
			res, err := j.Read(c.Context(), journal.Query{Until: u})
			if err != nil {
				return err
			}
			r := journal.BuildReport(res, s, u)
			r.Source = j.Dir()
			if output == "" {
				dir, err := stateDir(c)
				if err != nil {
					return err
				}
				dir = filepath.Join(dir, "reports")
				if err := os.MkdirAll(dir, 0o755); err != nil {
					return fmt.Errorf("incident report: %w", err)
				}
				output = filepath.Join(dir, "incident-"+now.UTC().Format("20060102T150405Z")+".md")
			}
			if output == "-" {
				return r.WriteMarkdown(c.OutOrStdout())
			}
			if err := writeFileAtomic(output, func(w io.Writer) error { return r.WriteMarkdown(w) }); err != nil {
				return err
			}
			sev := string(r.Severity)
			if sev == "" {
				sev = "none"
			}
			fmt.Fprintf(c.OutOrStdout(), "wrote %s: %s, %s, severity %s\n", output, countOf(len(r.Events), "event", "events"), countOf(len(r.Boards), "board", "boards"), sev)
			if res.Torn > 0 {
				fmt.Fprintf(c.ErrOrStderr(), "note: skipped %s (a writer was killed mid-write)\n", countOf(res.Torn, "torn journal line", "torn journal lines"))
			}
			return nil
		},
	}
	c.Flags().StringVar(&since, "since", "2 hours ago", `start of the window: "2 hours ago", "30 minutes ago", "yesterday" or RFC 3339`)
	c.Flags().StringVar(&until, "until", "", "end of the window (default now)")
	c.Flags().StringVarP(&output, "output", "o", "", `Markdown file to write (default the state directory's reports/incident-TIME.md; "-" for stdout)`)
	return c
}

func newJournal() *cobra.Command {
	var since, until, board string
	var asJSON bool
	c := &cobra.Command{
		Use:   "journal",
		Short: "List the journal's events: commands, leases, health results, faults, flashes, alerts",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			s, u, err := window(since, until, time.Now())
			if err != nil {
				return err
			}
			j, err := openJournal(c)
			if err != nil {
				return err
			}
			res, err := j.Read(c.Context(), journal.Query{Since: s, Until: u, Board: board})
			if err != nil {
				return err
			}
			if asJSON {
				if res.Events == nil {
					res.Events = []journal.Event{}
				}
				return writeJSON(c.OutOrStdout(), res)
			}
			if len(res.Events) == 0 {
				fmt.Fprintf(c.OutOrStdout(), "no events in %s between %s and %s\n", j.Dir(), s.Format(time.RFC3339), u.Format(time.RFC3339))
				return nil
			}
			tw := tabwriter.NewWriter(c.OutOrStdout(), 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "TIME\tBOARD\tKIND\tSEVERITY\tWHAT")
			for _, e := range res.Events {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", e.Time.Local().Format("2006-01-02 15:04:05"), dash(e.Board), e.Kind, e.Severity, oneLine(e.Message))
			}
			if res.Torn > 0 || res.BadCount > 0 {
				fmt.Fprintf(c.ErrOrStderr(), "note: skipped %d torn and %d unreadable lines\n", res.Torn, res.BadCount)
			}
			return tw.Flush()
		},
	}
	c.Flags().StringVar(&since, "since", "24 hours ago", "start of the window")
	c.Flags().StringVar(&until, "until", "", "end of the window (default now)")
	c.Flags().StringVar(&board, "board", "", "only this board's events")
	c.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return c
}

func oneLine(s string) string {
	s = strings.ReplaceAll(s, "\n", " ")
	if len(s) > 160 {
		s = s[:160] + "…"
	}
	return s
}
