package journal

import (
	"bufio"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/tinyprof/tinyprof/runbook"
)

// Report is an incident report over a window of the journal: what
// happened, to which boards, which runbook thresholds were crossed, the
// severity that follows and the runbook's first action for each.
type Report struct {
	Since, Until time.Time
	Generated    time.Time
	// Source names the journal read, for the reader of the report.
	Source string
	// Events are the events in the window, in journal order.
	Events []Event
	// Findings are the runbook thresholds measured over the window.
	Findings []Finding
	// Alerts are the alert rules that fired in the window.
	Alerts []Event
	// Boards summarises every board with events in the window, worst first.
	Boards []BoardSummary
	// Severity is the worst incident severity that follows: of crossed
	// thresholds and fired alerts. "" when nothing was crossed.
	Severity runbook.Severity
	// SeverityFrom says where Severity came from: each crossed threshold
	// and fired alert of that severity, e.g. "alert memory_usage fired on
	// sim-a at …". Empty when Severity is "".
	SeverityFrom []string
	// Torn, BadLines and Dropped carry Result's notes on the journal.
	Torn, BadLines, Dropped int
}

// BoardSummary is one board's share of a report's window.
type BoardSummary struct {
	ID string
	// Simulated and Emulated report that some of the board's events came
	// from a simulated (modelled) or emulated board.
	Simulated, Emulated bool
	Events              int
	Failures            int
	Last                Event // its most recent failure (a failed command's cause before the command), or event if none failed
	Kinds               map[Kind]int
}

// BuildReport measures the journal events in res against the runbook's
// thresholds over [since, until]. res may hold events before since: they
// serve as latency baselines only.
func BuildReport(res *Result, since, until time.Time) *Report {
	r := &Report{Since: since, Until: until, Generated: time.Now(), Torn: res.Torn, BadLines: res.BadCount, Dropped: res.Dropped}
	boards := map[string]*BoardSummary{}
	for _, e := range res.Events {
		if e.Time.Before(since) || e.Time.After(until) {
			continue
		}
		r.Events = append(r.Events, e)
		if e.Kind == KindAlert && e.Text("state") == "firing" {
			r.Alerts = append(r.Alerts, e)
			if e.Severity.Rank() >= runbook.P3.Rank() {
				r.raise(e.Severity, "alert "+e.Text("rule")+" fired on "+orHost(e.Board)+" at "+e.Time.UTC().Format(time.RFC3339))
			}
		}
		if e.Board == "" {
			continue
		}
		b := boards[e.Board]
		if b == nil {
			b = &BoardSummary{ID: e.Board, Kinds: map[Kind]int{}}
			boards[e.Board] = b
		}
		b.Events++
		b.Kinds[e.Kind]++
		if v, _ := e.Bool("simulated"); v {
			b.Simulated = true
		}
		if v, _ := e.Bool("emulated"); v {
			b.Emulated = true
		}
		switch {
		case failed(&e):
			// A failed command follows the failure it ran into, which
			// says more: it is the board's last failure only if alone.
			if e.Kind != KindCommand || b.Failures == 0 || b.Last.Kind == KindCommand {
				b.Last = e
			}
			b.Failures++
		case b.Failures == 0:
			b.Last = e
		}
	}
	for _, th := range RunbookThresholds() {
		var f Finding
		switch th.Kind {
		case KindInference:
			f = measureLatency(th, res.Events, since, until)
		case KindMemory:
			f = measureMemory(th, res.Events, since, until)
		default:
			f = measureRate(th, res.Events, since, until)
		}
		if f.Breached {
			r.raise(th.Severity, "threshold "+th.Name+" "+th.Text+" crossed")
		}
		r.Findings = append(r.Findings, f)
	}
	for _, b := range boards {
		r.Boards = append(r.Boards, *b)
	}
	sort.Slice(r.Boards, func(i, j int) bool {
		if r.Boards[i].Failures != r.Boards[j].Failures {
			return r.Boards[i].Failures > r.Boards[j].Failures
		}
		return r.Boards[i].ID < r.Boards[j].ID
	})
	return r
}

// raise makes sev the report's severity if it is the worst so far,
// keeping why: the reasons of the worst severity only.
func (r *Report) raise(sev runbook.Severity, why string) {
	switch {
	case sev.Rank() > r.Severity.Rank():
		r.Severity, r.SeverityFrom = sev, []string{why}
	case sev == r.Severity:
		r.SeverityFrom = append(r.SeverityFrom, why)
	}
}

// crossed reports whether any runbook threshold was crossed.
func (r *Report) crossed() bool {
	for _, f := range r.Findings {
		if f.Breached {
			return true
		}
	}
	return false
}

// MaxTimeline bounds the timeline rows WriteMarkdown prints; the rest are
// counted.
const MaxTimeline = 500

// WriteMarkdown writes the report as Markdown.
func (r *Report) WriteMarkdown(w io.Writer) error {
	bw := bufio.NewWriter(w)
	p := func(format string, a ...any) { fmt.Fprintf(bw, format, a...) }
	ts := func(t time.Time) string { return t.UTC().Format(time.RFC3339) }

	p("# Incident report: %s to %s\n\n", ts(r.Since), ts(r.Until))
	p("Generated %s by `tiny-profiler generate-incident-report`", ts(r.Generated))
	if r.Source != "" {
		p(" from the journal in `%s`", r.Source)
	}
	p(".\n\n")
	switch {
	case len(r.Events) == 0:
		p("**Severity: none.** The journal has no events in this window: nothing ran, or the journal was written elsewhere (check `--state-dir` / `TINYPROF_STATE_DIR`).\n\n")
	case r.Severity == "":
		p("**Severity: none.** No runbook threshold was crossed and no alert fired.\n\n")
	default:
		from := strings.Join(r.SeverityFrom, "; ")
		if len(r.SeverityFrom) > 3 {
			from = strings.Join(r.SeverityFrom[:3], "; ") + fmt.Sprintf("; and %d more", len(r.SeverityFrom)-3)
		}
		p("**Severity: %s** (%s), from %s.", r.Severity, severityMeaning(r.Severity), from)
		if !r.crossed() {
			p(" No runbook threshold was crossed in the journal: the severity is the alert rules' own.")
		}
		p(" %s\n\n", escalation(r.Severity))
	}

	p("## Summary\n\n")
	fails := 0
	kinds := map[Kind]int{}
	for i := range r.Events {
		kinds[r.Events[i].Kind]++
		if failed(&r.Events[i]) {
			fails++
		}
	}
	p("- %s, %s, %s, %s fired\n", count(len(r.Events), "event"), count(fails, "failure"), count(len(r.Boards), "board"), count(len(r.Alerts), "alert"))
	if len(kinds) > 0 {
		var ks []string
		for k, n := range kinds {
			ks = append(ks, fmt.Sprintf("%s %d", k, n))
		}
		sort.Strings(ks)
		p("- by kind: %s\n", strings.Join(ks, ", "))
	}
	p("\n## Runbook thresholds\n\n")
	p("| metric | threshold | severity | measured | worst | verdict |\n|---|---|---|---|---|---|\n")
	for _, f := range r.Findings {
		verdict, worst := "no data", "-"
		if f.Samples > 0 {
			verdict = "ok"
			worst = cell(f.Detail)
		}
		if f.Undetermined {
			verdict = "cannot judge"
		}
		if f.Breached {
			verdict = "**crossed**"
		}
		measured := count(f.Samples, "event")
		if f.Threshold.Window > 0 {
			measured = count(f.Samples, "attempt")
		}
		p("| %s | %s | %s | %s | %s | %s |\n", f.Threshold.Name, cell(f.Threshold.Text), f.Threshold.Severity, measured, worst, verdict)
	}

	if len(r.Alerts) > 0 {
		p("\n## Alerts fired\n\n| time | board | rule | severity | value |\n|---|---|---|---|---|\n")
		for _, a := range r.Alerts {
			p("| %s | %s | %s | %s | %s |\n", ts(a.Time), cell(orHost(a.Board)), cell(a.Text("rule")), a.Severity, cell(a.Message))
		}
	}

	p("\n## First actions\n\n")
	acted := map[string]bool{}
	for _, f := range r.Findings {
		if !f.Breached || acted[f.Threshold.Incident] {
			continue
		}
		acted[f.Threshold.Incident] = true
		p("- **%s** (%s, escalate after %v): %s — `%s`\n", f.Threshold.Incident, f.Threshold.Severity, f.Threshold.Escalation, f.Threshold.FirstAction, f.Threshold.Command)
	}
	switch {
	case len(acted) > 0:
	case len(r.Alerts) > 0:
		p("No runbook threshold was crossed, so the runbook names no first action; the alerts fired above carry the severity: act on the rules that fired.\n")
	default:
		p("None required: no threshold was crossed and no alert fired.\n")
	}

	p("\n## Boards affected\n\n")
	if len(r.Boards) == 0 {
		p("No board has events in this window.\n")
	} else {
		p("| board | events | failures | last failure or event |\n|---|---|---|---|\n")
		for _, b := range r.Boards {
			p("| %s | %d | %d | %s %s: %s |\n", cell(b.ID+b.label()), b.Events, b.Failures, ts(b.Last.Time), b.Last.Kind, cell(describe(b.Last)))
		}
	}

	p("\n## Timeline\n\n")
	if len(r.Events) == 0 {
		p("No events.\n")
	} else {
		p("| time | board | kind | severity | what |\n|---|---|---|---|---|\n")
		for i, e := range r.Events {
			if i == MaxTimeline {
				p("\n%d further events are not shown; read them with `tiny-profiler journal`.\n", len(r.Events)-MaxTimeline)
				break
			}
			p("| %s | %s | %s | %s | %s |\n", ts(e.Time), cell(orHost(e.Board)), e.Kind, e.Severity, cell(describe(e)))
		}
	}
	if r.Torn > 0 || r.BadLines > 0 || r.Dropped > 0 {
		p("\n## Journal notes\n\n")
		if r.Torn > 0 {
			p("- %s skipped (a writer was killed mid-write)\n", count(r.Torn, "torn last line"))
		}
		if r.BadLines > 0 {
			p("- %s skipped: not events\n", count(r.BadLines, "line"))
		}
		if r.Dropped > 0 {
			p("- %s dropped to bound memory\n", count(r.Dropped, "older event"))
		}
	}
	return bw.Flush()
}

// label marks a simulated or emulated board, whose figures are modelled
// or emulated rather than measured on hardware.
func (b BoardSummary) label() string {
	switch {
	case b.Simulated && b.Emulated:
		return " (simulated and emulated)"
	case b.Simulated:
		return " (simulated: figures modelled, not measured)"
	case b.Emulated:
		return " (emulated)"
	}
	return ""
}

// describe is an event's message with its error, or its details when it
// has no message.
func describe(e Event) string {
	if e.Message != "" {
		if err := e.Text("error"); err != "" && !strings.Contains(e.Message, err) {
			return e.Message + ": " + err
		}
		return e.Message
	}
	var keys []string
	for k := range e.Details {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var parts []string
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s=%v", k, e.Details[k]))
	}
	return strings.Join(parts, " ")
}

// cell makes s safe inside a Markdown table cell.
func cell(s string) string {
	s = strings.NewReplacer("|", `\|`, "\n", " ", "\r", " ").Replace(s)
	if len(s) > 300 {
		s = s[:300] + "…"
	}
	return s
}

func severityMeaning(s runbook.Severity) string {
	switch s {
	case runbook.P0:
		return "critical: complete service outage, data loss risk"
	case runbook.P1:
		return "high: major functionality impaired"
	case runbook.P2:
		return "medium: limited functionality impaired, workarounds available"
	case runbook.P3:
		return "low: minor issues, no immediate impact"
	}
	return string(s)
}

// escalation is the runbook's internal escalation for s.
func escalation(s runbook.Severity) string {
	switch s {
	case runbook.P0, runbook.P1:
		return "Runbook: notify the on-call engineer immediately."
	case runbook.P2:
		return "Runbook: open an issue and assign it to the relevant team."
	}
	return "Runbook: add to the backlog."
}

// count returns "1 board" or "2 boards".
func count(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return itoa(n) + " " + noun + "s"
}

func itoa(n int) string { return strconv.Itoa(n) }

func ftoa(f float64, prec int) string { return strconv.FormatFloat(f, 'f', prec, 64) }
