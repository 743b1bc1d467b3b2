package monitor

import (
	"errors"
	"fmt"
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/tinyprof/tinyprof/internal/limitfile"
	"github.com/tinyprof/tinyprof/runbook"
)

// Metric names a quantity the monitor streams.
type Metric string

// The metrics. Memory is in bytes, CPU load in percent of one core, power
// in milliwatts, rates in percent of polls.
const (
	HeapUsed  Metric = "heap_used"  // internal RAM in use: SRAM − free heap; capacity SRAM
	HeapFree  Metric = "heap_free"  // free internal heap
	PSRAMUsed Metric = "psram_used" // external RAM in use; capacity PSRAM
	CPULoad   Metric = "cpu_load"
	Power     Metric = "power" // only on boards that measure it (CapPower)
	// ConnectionFailureRate is the share of polls in the rule's window
	// that failed (the board did not answer a METRICS request).
	ConnectionFailureRate Metric = "connection_failure_rate"
)

// aliases maps the runbook's alert names to metrics.
var aliases = map[string]Metric{
	"memory_usage":                   HeapUsed,
	"device_connection_failure_rate": ConnectionFailureRate,
	"heap":                           HeapUsed,
	"cpu":                            CPULoad,
}

// journalOnly are runbook metrics measured from the journal, not streamed.
var journalOnly = map[string]string{
	"model_loading_failure_rate": "model loads are not polled: generate-incident-report measures them from the journal",
	"inference_latency_p95":      "inference latency is not polled: generate-incident-report measures it from the journal",
}

var metrics = []Metric{HeapUsed, HeapFree, PSRAMUsed, CPULoad, Power, ConnectionFailureRate}

func (m Metric) hasCapacity() bool { return m == HeapUsed || m == PSRAMUsed }
func (m Metric) isRate() bool      { return m == ConnectionFailureRate }
func (m Metric) isMemory() bool    { return m == HeapUsed || m == HeapFree || m == PSRAMUsed }

// Unit says what a rule's number is compared with.
type Unit string

// The units of a threshold.
const (
	Absolute   Unit = "absolute"    // the metric's own unit (bytes, %, mW)
	OfCapacity Unit = "of capacity" // percent of the board's capacity for the metric
	XBaseline  Unit = "x baseline"  // a multiple of the metric's baseline
)

// Rule is one alert rule.
type Rule struct {
	Name     string
	Metric   Metric
	Op       string  // ">", ">=", "<" or "<="
	Value    float64 // in Unit; bytes, percent or mW for Absolute
	Unit     Unit
	Window   time.Duration // level metrics: how long the condition must hold; rates: the window measured. 0: one sample.
	Baseline float64       // for XBaseline: given in the file, or 0 to learn it from the first samples
	Severity runbook.Severity
	Text     string // the threshold as written
	File     string
	Line     int
}

func (r Rule) compare(v, limit float64) bool {
	switch r.Op {
	case ">":
		return v > limit
	case ">=":
		return v >= limit
	case "<":
		return v < limit
	}
	return v <= limit
}

// Skipped is a rule of the file that the monitor does not evaluate.
type Skipped struct {
	Name, Reason string
	Line         int
}

// RuleSet is a parsed alert file.
type RuleSet struct {
	Rules   []Rule
	Skipped []Skipped
}

// RuleError is a problem at a place in an alert file; it reads
// "file:line: problem".
type RuleError struct {
	File string
	Line int
	Msg  string
}

func (e *RuleError) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Msg)
	}
	return fmt.Sprintf("%s: %s", e.File, e.Msg)
}

// LoadRules reads the alert rules at path (see ParseRules).
func LoadRules(path string) (*RuleSet, error) {
	// Bounded before it is read: a FIFO or /dev/zero named by mistake is
	// refused, not read until memory runs out.
	data, err := limitfile.ReadFile(path, "the alert rules", 1<<20)
	if err != nil {
		return nil, fmt.Errorf("alert rules: %w", err)
	}
	return ParseRules(path, data)
}

// ParseRules reads alert rules shaped like the incident runbook's alerts
// block:
//
//	alerts:
//	  memory_usage:
//	    threshold: "> 90% of device capacity"
//	    severity: P1
//	  cpu_hot:
//	    metric: cpu_load
//	    threshold: "> 80% over 30 seconds"
//	    severity: P3
//
// A rule's metric is its `metric:` key or, failing that, its name (the
// runbook's memory_usage and device_connection_failure_rate are known).
// A threshold is a comparison, a number with an optional unit (%, KiB,
// MiB, bytes, mW, W), optionally "of device capacity" or "x baseline", and
// optionally "over" a window; `window:` and `baseline:` keys may say the
// same. Every problem is reported, each a *RuleError with the file and
// line, joined. Runbook rules measured from the journal rather than a
// live board (model_loading_failure_rate, inference_latency_p95) are
// listed in Skipped.
func ParseRules(name string, data []byte) (*RuleSet, error) {
	var errs []error
	at := func(line int, f string, a ...any) {
		errs = append(errs, &RuleError{File: name, Line: line, Msg: fmt.Sprintf(f, a...)})
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		line, msg := 0, strings.TrimPrefix(err.Error(), "yaml: ")
		if m := regexp.MustCompile(`^line (\d+): (.*)$`).FindStringSubmatch(msg); m != nil {
			line, _ = strconv.Atoi(m[1])
			msg = m[2]
		}
		return nil, &RuleError{File: name, Line: line, Msg: "bad YAML: " + msg}
	}
	if len(doc.Content) == 0 || doc.Content[0].Kind != yaml.MappingNode {
		return nil, &RuleError{File: name, Line: 1, Msg: "expected a mapping with an `alerts:` block"}
	}
	root := doc.Content[0]
	var alerts *yaml.Node
	for i := 0; i+1 < len(root.Content); i += 2 {
		if root.Content[i].Value == "alerts" {
			alerts = root.Content[i+1]
		} else {
			at(root.Content[i].Line, "unknown key %q (the file holds one `alerts:` block)", root.Content[i].Value)
		}
	}
	set := &RuleSet{}
	switch {
	case alerts == nil:
		at(root.Line, "no `alerts:` block")
	case alerts.Kind != yaml.MappingNode:
		at(alerts.Line, "`alerts:` must map rule names to rules")
	default:
		for i := 0; i+1 < len(alerts.Content); i += 2 {
			k, v := alerts.Content[i], alerts.Content[i+1]
			if reason, ok := journalOnly[k.Value]; ok {
				set.Skipped = append(set.Skipped, Skipped{Name: k.Value, Reason: reason, Line: k.Line})
				continue
			}
			r, problems := parseRule(name, k, v)
			for _, p := range problems {
				errs = append(errs, p)
			}
			if len(problems) == 0 {
				set.Rules = append(set.Rules, r)
			}
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return set, nil
}

var ruleKeys = []string{"metric", "threshold", "window", "severity", "baseline", "description"}

func parseRule(file string, k, v *yaml.Node) (Rule, []error) {
	r := Rule{Name: k.Value, File: file, Line: k.Line}
	var errs []error
	at := func(line int, f string, a ...any) {
		errs = append(errs, &RuleError{File: file, Line: line, Msg: fmt.Sprintf("rule %s: ", k.Value) + fmt.Sprintf(f, a...)})
	}
	if v.Kind != yaml.MappingNode {
		at(v.Line, "expected a mapping with threshold and severity")
		return r, errs
	}
	vals := map[string]*yaml.Node{}
	for i := 0; i+1 < len(v.Content); i += 2 {
		key := v.Content[i]
		if !slices.Contains(ruleKeys, key.Value) {
			at(key.Line, "unknown key %q (known: %s)", key.Value, strings.Join(ruleKeys, ", "))
			continue
		}
		if v.Content[i+1].Kind != yaml.ScalarNode {
			at(v.Content[i+1].Line, "%s must be a single value", key.Value)
			continue
		}
		vals[key.Value] = v.Content[i+1]
	}
	// Metric.
	metricName, metricLine := k.Value, k.Line
	if n := vals["metric"]; n != nil {
		metricName, metricLine = n.Value, n.Line
	}
	if m, ok := aliases[metricName]; ok {
		r.Metric = m
	} else if slices.Contains(metrics, Metric(metricName)) {
		r.Metric = Metric(metricName)
	} else if vals["metric"] != nil {
		at(metricLine, "unknown metric %q (known: %s)", metricName, metricNames())
	} else {
		at(metricLine, "no metric: add `metric:` (one of %s)", metricNames())
	}
	// Severity.
	if n := vals["severity"]; n == nil {
		at(v.Line, "no severity: add `severity: P0`…`P3`")
	} else if s, err := runbook.ParseIncidentSeverity(n.Value); err != nil {
		at(n.Line, "%v", err)
	} else {
		r.Severity = s
	}
	// Threshold.
	n := vals["threshold"]
	if n == nil {
		at(v.Line, "no threshold: add e.g. `threshold: \"> 90%% of device capacity\"`")
		return r, errs
	}
	r.Text = n.Value
	if err := parseThreshold(&r, n.Value); err != nil {
		at(n.Line, "threshold %q: %v", n.Value, err)
	}
	if w := vals["window"]; w != nil {
		d, err := runbook.ParseSpan(strings.TrimPrefix(strings.TrimSpace(w.Value), "over "))
		if err != nil {
			at(w.Line, "window: %v", err)
		} else {
			r.Window = d
		}
	}
	if b := vals["baseline"]; b != nil {
		f, err := strconv.ParseFloat(b.Value, 64)
		if err != nil || f <= 0 || math.IsInf(f, 0) {
			at(b.Line, "baseline must be a positive number in the metric's unit")
		} else {
			r.Baseline = f
		}
	}
	if r.Metric != "" && len(errs) == 0 {
		switch {
		case r.Unit == OfCapacity && !r.Metric.hasCapacity():
			at(n.Line, "%s has no device capacity: use an absolute value", r.Metric)
		case r.Metric.isRate() && r.Unit != Absolute:
			at(n.Line, "%s is a percentage of polls: write e.g. \"> 5%% over 5 minutes\"", r.Metric)
		case r.Metric.isRate() && r.Window == 0:
			r.Window = time.Minute
		}
	}
	return r, errs
}

func metricNames() string {
	var s []string
	for _, m := range metrics {
		s = append(s, string(m))
	}
	return strings.Join(s, ", ") + ", or the runbook's memory_usage, device_connection_failure_rate"
}

var thresholdRE = regexp.MustCompile(`(?i)^\s*(>=|<=|>|<)\s*([0-9]+(?:\.[0-9]+)?)\s*(%|x|kib|kb|mib|mb|bytes|b|mw|w)?\s*(of\s+(?:the\s+)?(?:device\s+)?capacity|baseline)?\s*(?:over\s+(.+?))?\s*$`)

// parseThreshold reads "> 90% of device capacity", "> 2x baseline",
// "> 5% over 5 minutes", "> 400 KiB", "< 50 mW".
func parseThreshold(r *Rule, s string) error {
	m := thresholdRE.FindStringSubmatch(s)
	if m == nil {
		return errors.New(`write a comparison and a number, e.g. "> 90% of device capacity", "> 2x baseline", "> 400 KiB" or "> 5% over 5 minutes"`)
	}
	r.Op = m[1]
	v, _ := strconv.ParseFloat(m[2], 64)
	unit, rel := strings.ToLower(m[3]), strings.ToLower(m[4])
	switch {
	case strings.HasPrefix(rel, "of"):
		if unit != "%" {
			return errors.New(`"of device capacity" needs a percentage, e.g. "> 90% of device capacity"`)
		}
		r.Unit = OfCapacity
	case rel == "baseline":
		if unit != "x" {
			return errors.New(`"baseline" needs a multiple, e.g. "> 2x baseline"`)
		}
		if v <= 0 {
			return errors.New("the multiple must be positive")
		}
		r.Unit = XBaseline
	default:
		r.Unit = Absolute
		switch unit {
		case "x":
			return errors.New(`a multiple needs "baseline", e.g. "> 2x baseline"`)
		case "kib", "kb":
			v *= 1024
		case "mib", "mb":
			v *= 1 << 20
		case "w":
			v *= 1000
		}
		if r.Metric != "" {
			if err := unitFits(r.Metric, unit); err != nil {
				return err
			}
		}
	}
	r.Value = v
	if m[5] != "" {
		d, err := runbook.ParseSpan(m[5])
		if err != nil {
			return err
		}
		r.Window = d
	}
	return nil
}

func unitFits(m Metric, unit string) error {
	switch unit {
	case "":
		return nil
	case "%":
		if m == CPULoad || m.isRate() {
			return nil
		}
		if m.hasCapacity() {
			return errors.New(`a percentage of memory must say of what: "> 90% of device capacity"`)
		}
	case "kib", "kb", "mib", "mb", "bytes", "b":
		if m.isMemory() {
			return nil
		}
	case "mw", "w":
		if m == Power {
			return nil
		}
	}
	return fmt.Errorf("unit %q does not fit %s", unit, m)
}

// PollNote says, for a rate rule, when its window holds so few polls at
// interval that a single failed poll crosses the threshold, so that the
// rule fires on any failure rather than on a rate; it returns "" when the
// window holds enough polls or the rule is not a rate. Polls that wait
// out a timeout make a window hold fewer still.
func (r Rule) PollNote(interval time.Duration) string {
	if !r.Metric.isRate() || interval <= 0 || r.Window <= 0 {
		return ""
	}
	polls := int(r.Window / interval)
	if polls < 1 {
		return fmt.Sprintf("rule %s: its %s window is shorter than the %s poll interval, so it holds at most one poll and any failed poll crosses %s: widen the window or poll faster", r.Name, r.Window, interval, r.Text)
	}
	one := 100 / float64(polls)
	if !r.compare(one, r.Value) {
		return ""
	}
	need := time.Duration(math.Ceil(100/r.Value)) * interval
	return fmt.Sprintf("rule %s: its %s window holds about %d %s at a %s interval, so one failed poll (%.0f%%) crosses %s: the rule fires on any failure; for a rate, widen the window to at least %s or poll faster", r.Name, r.Window, polls, plural(polls, "poll", "polls"), interval, one, r.Text, need)
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
