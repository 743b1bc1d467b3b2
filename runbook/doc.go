// Package runbook is the vocabulary of the incident-response runbook that
// tinyprof grew from, in one place: incident severities (P0–P3 and the
// ordinary info/warning/error grades), the times and spans an on-call
// engineer types ("2 hours ago", "5 minutes"), and the changes a gate or
// an alert threshold is written in ("2x", "+10%").
//
// It is a leaf. The journal, the monitor's alert rules and the regression
// gates all read rules through it, so "> 5% over 5 minutes" and
// "-10%" mean the same thing wherever a user writes them.
package runbook
