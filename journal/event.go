// Package journal is tinyprof's append-only record of what happened to the
// lab: every command run, every lease, health verdict, fault, flash and
// alert, one JSON object a line in a directory (by default the state
// directory's journal/). An incident report (BuildReport) reads a window of
// it back and measures failure rates against the incident runbook's
// thresholds.
//
// The journal is durable across crashes: each Append writes whole lines
// with one write(2) and fsyncs before it returns. A process killed in the
// middle of a write can leave a torn last line; readers skip it (Result
// counts it) and the next Append starts on a fresh line, so a torn line
// is never fatal and never swallows a later event. Files rotate by size.
//
// Several processes may append at once: appends and rotation are
// serialised by an flock(2) on the directory's lock file.
package journal

import (
	"time"

	"github.com/tinyprof/tinyprof/runbook"
)

// Kind names what an event records. The kinds below are the ones tinyprof
// writes and BuildReport reads; other kinds are kept and shown in the
// timeline.
type Kind string

// The event kinds, with the Details keys BuildReport reads.
const (
	// KindCommand is one run of a tiny-profiler command. Details: "args"
	// (the command line), "exit" (status), "error", "seconds".
	KindCommand Kind = "command"
	// KindConnect is one attempt to reach a board, or a run of them.
	// Details: "ok" (bool), "error", "code"; "attempts" and "failed" when
	// the event sums a run (a monitor's polls). Rates of failed attempts
	// feed the runbook's device connection failure threshold.
	KindConnect Kind = "connect"
	// KindModelLoad is one model upload. Details: "ok" (bool), "model",
	// "error". Feeds the model loading failure threshold.
	KindModelLoad Kind = "model_load"
	// KindInference is one measured generation. Details: "p95_ms" (the
	// inter-token latency p95) and optionally "baseline_ms"; without a
	// baseline, BuildReport uses the median p95 of the board's earlier
	// inference events.
	KindInference Kind = "inference"
	// KindMemory is a memory reading. Details: "used" and "capacity" in
	// bytes, "region". Feeds the memory threshold.
	KindMemory Kind = "memory"
	// KindLease is a board leased (Details "holder") or released.
	KindLease Kind = "lease"
	// KindHealth is a health check result. Details: "status" (good, bad,
	// maintenance), "reason".
	KindHealth Kind = "health"
	// KindFault is a board failure hwtest saw: a quarantine, a board that
	// broke during a lease.
	KindFault Kind = "fault"
	// KindFlash is a firmware flash. Details: "ok", "firmware", "tool".
	KindFlash Kind = "flash"
	// KindReset is a board reset. Details: "ok", "hard".
	KindReset Kind = "reset"
	// KindAlert is an alert rule firing or clearing. Details: "rule",
	// "state" (firing, cleared), "value", "threshold".
	KindAlert Kind = "alert"
)

// Event is one line of the journal. Besides the keys of its Kind, an
// event about a board carries in Details "simulated" and "emulated"
// (bools: BuildReport labels such figures), and a failure its "error"
// (text), "code" (the device error's code, e.g. "port busy") and
// "state" (busy, gone or broken).
type Event struct {
	Time time.Time `json:"time"`
	// Board is the board's one identity: its inventory id, else its USB
	// serial number, else its port path ("sim:PLATFORM" or
	// "emu:MACHINE" for a board started for one command); "" for the host.
	Board    string           `json:"board,omitempty"`
	Kind     Kind             `json:"kind"`
	Severity runbook.Severity `json:"severity"`
	Message  string           `json:"message,omitempty"`
	Details  map[string]any   `json:"details,omitempty"`
	// Host and PID say which process wrote the event; Append fills them.
	Host string `json:"host,omitempty"`
	PID  int    `json:"pid,omitempty"`
}

// Bool returns Details[key] as a bool, and whether it was one.
func (e Event) Bool(key string) (bool, bool) {
	v, ok := e.Details[key].(bool)
	return v, ok
}

// Number returns Details[key] as a float64 (JSON numbers decode so), and
// whether it was a number.
func (e Event) Number(key string) (float64, bool) {
	switch v := e.Details[key].(type) {
	case float64:
		return v, true
	case float32:
		return float64(v), true
	case int:
		return float64(v), true
	case int64:
		return float64(v), true
	case uint32:
		return float64(v), true
	case uint64:
		return float64(v), true
	}
	return 0, false
}

// Text returns Details[key] as a string, "" if absent.
func (e Event) Text(key string) string {
	s, _ := e.Details[key].(string)
	return s
}
