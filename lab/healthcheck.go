package lab

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"sort"
	"time"

	"github.com/tinyprof/tinyprof/device"
	"github.com/tinyprof/tinyprof/firmware"
	"github.com/tinyprof/tinyprof/journal"
	"github.com/tinyprof/tinyprof/runbook"
)

// Verdict is a health check's conclusion about one board.
type Verdict string

// The verdicts. Only Bad fails a health check run.
const (
	VerdictGood        Verdict = "good"
	VerdictBad         Verdict = "bad"         // failed, also after a reset: now quarantined
	VerdictMaintenance Verdict = "maintenance" // marked so in the inventory: not checked
	VerdictRetired     Verdict = "retired"     // marked so in the inventory: not checked
	VerdictBusy        Verdict = "busy"        // leased by someone else: not checked
)

// HealthOptions configures Lab.HealthCheck. The zero value runs the basic
// check.
type HealthOptions struct {
	// Holder names the lease each board is checked under. Default
	// "health-check".
	Holder string
	// Comprehensive adds a model upload, a short generation and a second
	// metrics read to the basic connect, reset, hello, ping, firmware and
	// memory checks.
	Comprehensive bool
	// Model is the model a comprehensive check uploads (the CLI passes the
	// built-in stories260K-class fixture). Required with Comprehensive.
	Model []byte
	// Tokens is the length of the comprehensive check's generation.
	// Default 16.
	Tokens int
}

// HealthResult is one board's health check.
type HealthResult struct {
	ID        string  `json:"id"`
	Platform  string  `json:"platform"`
	Sim       bool    `json:"sim"`
	Verdict   Verdict `json:"verdict"`
	Reason    string  `json:"reason,omitempty"`
	Firmware  string  `json:"firmware,omitempty"`
	Simulated bool    `json:"simulated"` // the board's figures are modelled, not measured
	// Quarantined reports the board is quarantined after this check (it
	// may have been before).
	Quarantined bool      `json:"quarantined"`
	Checked     time.Time `json:"checked"`
	Seconds     float64   `json:"seconds"`
	PingMS      float64   `json:"ping_ms,omitempty"` // host wall clock over the link
	FreeHeap    uint32    `json:"free_heap,omitempty"`
	SRAM        uint32    `json:"sram,omitempty"`
	// For a comprehensive check: the generation's decode rate and
	// inter-token latency p95, from the board's clock.
	TokensPerSecond float64 `json:"tokens_per_second,omitempty"`
	P95MS           float64 `json:"p95_ms,omitempty"`
}

// HealthCheck checks every board of the lab, one after another, under a
// lease each (a board another holder has is reported busy, not waited
// for): connect, reset, hello, ping, platform and firmware against the
// inventory, and memory sanity; with opts.Comprehensive also a model
// upload, a short generation and a second metrics read. An eembc board
// gets its lease's check (name% and profile%) only. A board that fails
// is reset and checked again; failing twice quarantines it (the status
// Lease honours), passing clears a quarantine. Every result is journalled.
// Boards the inventory marks maintenance or retired are reported, not
// checked. It returns an error only if ctx ends; then results so far come
// with it.
func (l *Lab) HealthCheck(ctx context.Context, opts HealthOptions) ([]HealthResult, error) {
	if opts.Holder == "" {
		opts.Holder = "health-check"
	}
	if opts.Tokens <= 0 {
		opts.Tokens = 16
	}
	if opts.Comprehensive && len(opts.Model) == 0 {
		return nil, errors.New("lab: a comprehensive health check needs HealthOptions.Model")
	}
	var out []HealthResult
	for _, e := range l.Boards {
		if err := ctx.Err(); err != nil {
			return out, err
		}
		r := l.checkBoard(ctx, e, opts)
		ev := journal.Event{Board: e.ID, Kind: journal.KindHealth, Message: fmt.Sprintf("health-check: %s", r.Verdict),
			Details: map[string]any{"status": string(r.Verdict), "reason": r.Reason, "comprehensive": opts.Comprehensive}}
		switch r.Verdict {
		case VerdictBad:
			ev.Severity, ev.Message = runbook.Error, "health-check: bad: "+r.Reason
		case VerdictMaintenance, VerdictBusy, VerdictRetired:
			ev.Severity = runbook.Warning
			if r.Reason != "" {
				ev.Message += ": " + r.Reason
			}
		}
		l.record(ev)
		out = append(out, r)
	}
	return out, nil
}

// checkBoard checks one board. Its result is named so that the deferred
// Seconds lands in what is returned, not in a copy.
func (l *Lab) checkBoard(ctx context.Context, e Entry, opts HealthOptions) (r HealthResult) {
	r = HealthResult{ID: e.ID, Platform: e.Platform, Sim: e.Sim, Checked: time.Now()}
	defer func() { r.Seconds = time.Since(r.Checked).Seconds() }()
	switch e.State {
	case Maintenance:
		r.Verdict, r.Reason = VerdictMaintenance, orText(e.Notes, "marked maintenance in the inventory")
		return r
	case Retired:
		r.Verdict, r.Reason = VerdictRetired, orText(e.Notes, "marked retired in the inventory")
		return r
	}
	host, _ := os.Hostname()
	h := Holder{PID: os.Getpid(), Host: host, Test: opts.Holder, Since: time.Now()}
	release, err := l.Store.TryAcquire(ctx, e.ID, h)
	var he *HeldError
	switch {
	case errors.As(err, &he):
		r.Verdict, r.Reason = VerdictBusy, he.Error()
		return r
	case err != nil:
		r.Verdict, r.Reason = VerdictBad, "lease: "+err.Error()
		return r
	}
	defer release()
	prev, _ := l.Store.Inspect(ctx, e.ID)

	cctx, cancel := context.WithTimeout(ctx, l.checkTimeout())
	defer cancel()
	check := l.checker(e)
	log := &Log{}
	attempt := func(failed session) (session, error) {
		s, err := check(cctx, e, log, failed)
		if err == nil {
			if ts, ok := s.(*tinyprofSession); ok { // an EEMBC board's check is its protocol's
				err = l.deepCheck(cctx, ts.conn.Device, e, opts, &r)
			}
		}
		return s, err
	}
	s, err := attempt(nil)
	if err != nil && ctx.Err() == nil && cctx.Err() == nil {
		first := err
		s, err = attempt(s)
		if err != nil && err.Error() != first.Error() {
			err = fmt.Errorf("%v; after a reset: %w", first, err)
		}
	}
	if s != nil {
		s.close()
	}
	now := time.Now()
	if err != nil {
		r.Verdict, r.Reason, r.Quarantined = VerdictBad, err.Error(), true
		if ctx.Err() != nil {
			r.Quarantined = false // interrupted: say nothing about the board
			return r
		}
		hl := Health{Status: Quarantined, Reason: r.Reason, Since: prev.Health.Since, Checked: now, Failures: prev.Health.Failures + 1, By: h}
		if prev.Health.Status != Quarantined {
			hl.Since = now
		}
		if serr := l.Store.SetHealth(ctx, e.ID, hl); serr != nil {
			r.Reason += fmt.Sprintf(" (and it could not be quarantined: %v)", serr)
		}
		l.record(journal.Event{Board: e.ID, Kind: journal.KindFault, Severity: runbook.Error, Message: "quarantined: " + r.Reason,
			Details: map[string]any{"failures": hl.Failures}})
		return r
	}
	r.Verdict, r.Firmware = VerdictGood, s.firmware()
	r.Simulated = s.simulated()
	since := prev.Health.Since
	if prev.Health.Status != Healthy || since.IsZero() {
		since = now
	}
	if serr := l.Store.SetHealth(ctx, e.ID, Health{Status: Healthy, Since: since, Checked: now, By: h}); serr != nil {
		r.Verdict, r.Reason = VerdictBad, "record health: "+serr.Error()
	}
	return r
}

// deepCheck adds to check what a health-check command wants beyond a
// lease's check: a timed ping, memory sanity and, if asked, a generation.
func (l *Lab) deepCheck(ctx context.Context, dev *device.Device, e Entry, opts HealthOptions, r *HealthResult) error {
	rtt, err := dev.Ping(ctx, []byte("health-check"))
	if err != nil {
		return fmt.Errorf("ping: %w", err)
	}
	r.PingMS = float64(rtt.Microseconds()) / 1000
	info := dev.Info()
	if err := l.memoryCheck(ctx, dev, e, info, r); err != nil {
		return err
	}
	if !opts.Comprehensive {
		return nil
	}
	lr, err := dev.LoadModel(ctx, bytes.NewReader(opts.Model), int64(len(opts.Model)), device.LoadOptions{Name: "health-check"})
	ev := journal.Event{Board: e.ID, Kind: journal.KindModelLoad, Details: map[string]any{"ok": err == nil, "bytes": len(opts.Model)}}
	if err != nil {
		ev.Severity, ev.Message = runbook.Error, "model load failed: "+err.Error()
	} else {
		ev.Message = fmt.Sprintf("model loaded into %s in %v", lr.Region, lr.Duration.Round(time.Millisecond))
	}
	l.record(ev)
	if err != nil {
		return fmt.Errorf("load model: %w", err)
	}
	g, err := dev.Generate(ctx, device.GenerateRequest{Prompt: "Once upon a time", MaxTokens: opts.Tokens, Seed: 1})
	if err != nil {
		return fmt.Errorf("generate: %w", err)
	}
	if len(g.Tokens) == 0 {
		return errors.New("generate: the board produced no tokens")
	}
	r.TokensPerSecond = g.DecodeTokensPerSecond()
	if lat := g.InterTokenLatencies(); len(lat) > 0 {
		sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
		p95 := lat[(len(lat)*95+99)/100-1]
		r.P95MS = float64(p95.Microseconds()) / 1000
		l.record(journal.Event{Board: e.ID, Kind: journal.KindInference, Message: fmt.Sprintf("%d tokens, p95 %.1f ms", len(g.Tokens), r.P95MS),
			Details: map[string]any{"p95_ms": r.P95MS, "tokens": len(g.Tokens), "simulated": r.Simulated || info.Capabilities.Simulated()}})
	}
	return l.memoryCheck(ctx, dev, e, info, r)
}

// memoryCheck reads METRICS and checks the figures are consistent with
// each other and with the board's memories, and that the heap is not
// nearly exhausted.
func (l *Lab) memoryCheck(ctx context.Context, dev *device.Device, e Entry, info *firmware.Info, r *HealthResult) error {
	m, err := dev.Metrics(ctx)
	if err != nil {
		return fmt.Errorf("metrics: %w", err)
	}
	r.FreeHeap, r.SRAM = m.FreeHeap, info.SRAM
	if info.SRAM > 0 {
		used := int64(info.SRAM) - int64(m.FreeHeap)
		l.record(journal.Event{Board: e.ID, Kind: journal.KindMemory, Details: map[string]any{"used": max(used, 0), "capacity": info.SRAM, "region": "heap"}})
	}
	switch {
	case m.FreeHeap == 0:
		return errors.New("memory: the board reports no free heap")
	case info.SRAM > 0 && m.FreeHeap > info.SRAM:
		return fmt.Errorf("memory: free heap %d bytes exceeds the board's %d bytes of SRAM: its metrics are wrong (firmware bug?)", m.FreeHeap, info.SRAM)
	case m.MinFreeHeap > m.FreeHeap:
		return fmt.Errorf("memory: lowest-ever free heap %d is above the current %d: its metrics are wrong (firmware bug?)", m.MinFreeHeap, m.FreeHeap)
	case m.LargestFree > m.FreeHeap:
		return fmt.Errorf("memory: largest free block %d exceeds free heap %d: its metrics are wrong", m.LargestFree, m.FreeHeap)
	case info.PSRAM > 0 && m.PSRAMFree > info.PSRAM:
		return fmt.Errorf("memory: free PSRAM %d exceeds the board's %d bytes", m.PSRAMFree, info.PSRAM)
	case info.SRAM > 0 && uint64(m.FreeHeap)*20 < uint64(info.SRAM):
		return fmt.Errorf("memory: only %d of %d bytes of heap free (under 5%%): a leak or a stuck allocation; reset the board and watch it with `tiny-profiler monitor`", m.FreeHeap, info.SRAM)
	}
	return nil
}

func orText(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
