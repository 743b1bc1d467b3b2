package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/tinyprof/tinyprof/device"
	"github.com/tinyprof/tinyprof/journal"
	"github.com/tinyprof/tinyprof/lab"
	"github.com/tinyprof/tinyprof/runbook"
)

func newEmergencyReset() *cobra.Command {
	var all, asJSON bool
	var bf target
	var leaseDir string
	c := &cobra.Command{
		Use:   "emergency-reset (--all-devices | --device PATH|ID)",
		Short: "Hardware-reset every inventory board (or one), reporting each result",
		Long: `emergency-reset resets boards as hard as their connection allows: through the
DTR/RTS lines (EN/IO0 on ESP32 boards) where the port has them, else with a
protocol RESET, and waits for each to announce a new boot. With --all-devices
it resets every inventory board except retired ones, simulated ones included,
each under a lease: a board someone else has leased is reported busy and left
alone. Every board that was not reset is called busy, gone or broken, as
health-check and the incident report call it, with what to do; the exit
status is non-zero if any was not reset.`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			if all == (bf.device != "") {
				return usageError{errors.New("name the boards: --all-devices, or --device PATH|ID")}
			}
			var targets []lab.Entry
			if all {
				invPath, err := lab.InventoryPath(bf.inventory)
				if err != nil {
					return err
				}
				inv, err := lab.LoadInventory(invPath)
				if err != nil {
					return err
				}
				for _, e := range inv.Boards {
					if e.State != lab.Retired {
						targets = append(targets, e)
					}
				}
				if len(targets) == 0 {
					return fmt.Errorf("inventory %s has no boards to reset", invPath)
				}
			} else {
				e, err := bf.entry()
				if err != nil {
					return err
				}
				targets = append(targets, e)
			}
			store, err := resetLeases(c, leaseDir)
			if err != nil {
				return err
			}
			var results []resetResult
			for _, t := range targets {
				r := resetOne(c.Context(), t, store, device.Options{Baud: bf.baud, Timeout: attemptTimeout(bf.timeout)})
				r.Board = boardIdentity(t, bf.inventory)
				if r.connect != nil {
					record(c, r.connectEvent(t))
				}
				record(c, r.event())
				results = append(results, r)
			}
			if asJSON {
				if err := writeJSON(c.OutOrStdout(), results); err != nil {
					return err
				}
			} else {
				tw := tabwriter.NewWriter(c.OutOrStdout(), 0, 0, 2, ' ', 0)
				fmt.Fprintln(tw, "BOARD\tPORT\tMETHOD\tRESULT")
				for _, r := range results {
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", r.Board, dash(r.Port), dash(r.Method), r.Result)
				}
				tw.Flush()
			}
			return resetSummary(results)
		},
	}
	c.Flags().BoolVar(&all, "all-devices", false, "reset every board of the inventory")
	c.Flags().StringVar(&bf.device, "device", "", "reset only this board: a port or an inventory id")
	c.Flags().StringVar(&bf.inventory, "inventory", "", "inventory file (default $TINYPROF_INVENTORY, else the config directory's)")
	c.Flags().IntVar(&bf.baud, "baud", 115200, "serial line rate")
	c.Flags().DurationVar(&bf.timeout, "timeout", 2*time.Second, "how long to wait for each answer, the one resend after silence included; a reset waits 2.5 times this")
	c.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	c.Flags().StringVar(&leaseDir, "lease-dir", "", "lease directory (default the state directory's leases/)")
	return c
}

// resetLeases opens the lease store that health-check and hwtest use.
func resetLeases(c *cobra.Command, dir string) (*lab.FlockStore, error) {
	if dir == "" {
		state, err := stateDir(c)
		if err != nil {
			return nil, err
		}
		dir = filepath.Join(state, "leases")
	}
	return lab.NewFlockStore(dir)
}

// resetSummary is the error for the boards that were not reset, counted
// by state with what to do about each, or nil when every board was.
func resetSummary(results []resetResult) error {
	counts := map[boardState]int{}
	failed := 0
	for _, r := range results {
		if !r.OK {
			counts[r.State]++
			failed++
		}
	}
	if failed == 0 {
		return nil
	}
	var parts []string
	for _, st := range []boardState{stateBusy, stateGone, stateBroken} {
		if n := counts[st]; n > 0 {
			parts = append(parts, fmt.Sprintf("%d %s (%s)", n, st, st.hint()))
		}
	}
	return fmt.Errorf("%d of %s not reset: %s", failed, countOf(len(results), "board", "boards"), strings.Join(parts, "; "))
}

type resetResult struct {
	Board     string `json:"board"`
	Port      string `json:"port,omitempty"`
	Simulated bool   `json:"simulated"`
	Emulated  bool   `json:"emulated"`
	Method    string `json:"method,omitempty"` // "hard (DTR/RTS)" or "protocol RESET"
	OK        bool   `json:"ok"`
	// State is "ok", or busy, gone or broken as every command says it.
	State  boardState `json:"state"`
	Code   string     `json:"code,omitempty"`  // the error's code: "port busy", "timeout", "leased"…
	Error  string     `json:"error,omitempty"` // the error's text
	Result string     `json:"result"`
	BootID uint32     `json:"boot_id,omitempty"`
	// connect is the connection attempt's outcome (nil error wrapped in
	// attempt), nil when no attempt was made (the board was leased).
	connect *attempt
}

// attempt is the outcome of one connection attempt.
type attempt struct{ err error }

// connectEvent is the journal's record of r's connection attempt to e.
func (r resetResult) connectEvent(e lab.Entry) journal.Event {
	ev := journal.Event{Board: r.Board, Kind: journal.KindConnect, Severity: runbook.Info,
		Details: boardDetails(e, r.Board)}
	ev.Details["ok"], ev.Details["command"] = r.connect.err == nil, "tiny-profiler emergency-reset"
	if err := r.connect.err; err != nil {
		ev.Severity, ev.Message = runbook.Error, "emergency-reset: connect failed: "+err.Error()
		failureDetails(ev.Details, err)
	}
	return ev
}

// event is the journal's record of r.
func (r resetResult) event() journal.Event {
	ev := journal.Event{Board: r.Board, Kind: journal.KindReset, Message: "emergency-reset: " + r.Result,
		Details: map[string]any{"ok": r.OK, "method": r.Method, "state": string(r.State), "simulated": r.Simulated, "emulated": r.Emulated}}
	if r.Port != "" && r.Port != r.Board {
		ev.Details["port"] = r.Port
	}
	if !r.OK {
		ev.Severity = runbook.Error
		ev.Details["code"], ev.Details["error"] = r.Code, r.Error
		if r.State == stateBusy {
			ev.Severity = runbook.Warning // someone else's board, not a fault
		}
	}
	return ev
}

// fail fills r for an error, in the vocabulary every command shares.
func (r *resetResult) fail(err error) {
	st := classify(err)
	r.State, r.Code, r.Error = st, errorCode(err), err.Error()
	r.Result = string(st) + ": " + err.Error()
}

// resetOne resets one board under a lease, electrically if its port can.
func resetOne(ctx context.Context, e lab.Entry, store lab.Store, opts device.Options) resetResult {
	r := resetResult{Board: e.ID, Simulated: e.Kind() == lab.KindSimulated, Emulated: e.Kind() == lab.KindEmulated}
	if e.ID == "" {
		r.Board, r.Port = e.Port, e.Port // named by its path
	} else {
		host, _ := os.Hostname()
		release, err := store.TryAcquire(ctx, e.ID, lab.Holder{PID: os.Getpid(), Host: host, Test: "emergency-reset", Since: time.Now()})
		if err != nil {
			r.fail(err)
			return r
		}
		defer release()
	}
	conn, err := lab.Connect(ctx, e, lab.ConnectOptions{Device: opts})
	if !errors.Is(err, lab.ErrHeld) {
		r.connect = &attempt{err}
	}
	if err != nil {
		r.fail(err)
		return r
	}
	defer conn.Close()
	dev := conn.Device
	r.Port = dev.Name()
	old := dev.Info()
	r.Simulated = old.Capabilities.Simulated()
	r.Method = "hard (DTR/RTS)"
	info, err := dev.HardReset(ctx)
	if errors.Is(err, device.ErrNoResetLines) {
		r.Method = "protocol RESET (the port has no reset lines)"
		info, err = dev.Reset(ctx)
	}
	if err != nil {
		r.fail(err)
		return r
	}
	r.OK, r.State, r.BootID = true, "ok", info.BootID
	r.Result = fmt.Sprintf("ok: boot id %08x -> %08x, %s %s", old.BootID, info.BootID, info.Platform, info.Firmware)
	switch {
	case r.Emulated:
		r.Result += " (emulated)"
	case r.Simulated:
		r.Result += " (simulated)"
	}
	return r
}
