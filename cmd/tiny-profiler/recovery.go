package main

import (
	"context"
	"errors"
	"fmt"
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
	c := &cobra.Command{
		Use:   "emergency-reset (--all-devices | --device PATH|ID)",
		Short: "Hardware-reset every inventory board (or one), reporting each result",
		Long: `emergency-reset resets boards as hard as their connection allows: through the
DTR/RTS lines (EN/IO0 on ESP32 boards) where the port has them, else with a
protocol RESET, and waits for each to announce a new boot. With --all-devices
it resets every inventory board except retired ones, simulated ones included,
and exits non-zero if any did not come back.`,
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
			var results []resetResult
			failed := 0
			for _, t := range targets {
				r := resetOne(c.Context(), t, device.Options{Baud: bf.baud, Timeout: bf.timeout})
				if !r.OK {
					failed++
				}
				ev := journal.Event{Board: r.Board, Kind: journal.KindReset, Message: "emergency-reset: " + r.Result,
					Details: map[string]any{"ok": r.OK, "method": r.Method}}
				if !r.OK {
					ev.Severity = runbook.Error
				}
				record(c, ev)
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
			if failed > 0 {
				return fmt.Errorf("%d of %d boards did not come back: check their power and cables, then `tiny-profiler debug-device --device ID`", failed, len(results))
			}
			return nil
		},
	}
	c.Flags().BoolVar(&all, "all-devices", false, "reset every board of the inventory")
	c.Flags().StringVar(&bf.device, "device", "", "reset only this board: a port or an inventory id")
	c.Flags().StringVar(&bf.inventory, "inventory", "", "inventory file (default $TINYPROF_INVENTORY, else the config directory's)")
	c.Flags().IntVar(&bf.baud, "baud", 115200, "serial line rate")
	c.Flags().DurationVar(&bf.timeout, "timeout", 2*time.Second, "how long to wait for each answer; a reset waits five times this")
	c.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return c
}

type resetResult struct {
	Board     string `json:"board"`
	Port      string `json:"port,omitempty"`
	Simulated bool   `json:"simulated"`
	Method    string `json:"method,omitempty"` // "hard (DTR/RTS)" or "protocol RESET"
	OK        bool   `json:"ok"`
	Result    string `json:"result"`
	BootID    uint32 `json:"boot_id,omitempty"`
}

// resetOne resets one board, electrically if its port can.
func resetOne(ctx context.Context, e lab.Entry, opts device.Options) resetResult {
	r := resetResult{Board: e.ID}
	if e.ID == "" {
		r.Board, r.Port = e.Port, e.Port // named by its path
	}
	conn, err := lab.Connect(ctx, e, lab.ConnectOptions{Device: opts})
	if err != nil {
		r.Result = "failed: " + err.Error()
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
		r.Result = "failed: " + err.Error()
		return r
	}
	r.OK, r.BootID = true, info.BootID
	r.Result = fmt.Sprintf("ok: boot id %08x -> %08x, %s %s", old.BootID, info.BootID, info.Platform, info.Firmware)
	if r.Simulated {
		r.Result += " (simulated)"
	}
	return r
}
