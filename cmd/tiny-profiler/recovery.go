package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/tinyprof/tinyprof/device"
	"github.com/tinyprof/tinyprof/hwtest"
	"github.com/tinyprof/tinyprof/journal"
	"github.com/tinyprof/tinyprof/runbook"
)

// inventoryPath is flag, else TINYPROF_INVENTORY, else the default path.
func inventoryPath(flag string) (string, error) {
	if flag != "" {
		return flag, nil
	}
	if p := os.Getenv(hwtest.EnvInventory); p != "" {
		return p, nil
	}
	return hwtest.DefaultInventoryPath()
}

// isPath reports whether spec names a file rather than an inventory id.
func isPath(spec string) bool {
	if strings.HasPrefix(spec, "/") || strings.HasPrefix(spec, ".") {
		return true
	}
	_, err := os.Stat(spec)
	return err == nil
}

// resolve finds the board spec names: a path is returned as is; an id is
// looked up in the inventory and returned as its entry (with its port for
// a real board).
func resolve(spec, inventory string) (path string, e *hwtest.Entry, err error) {
	if isPath(spec) {
		return spec, nil, nil
	}
	invPath, err := inventoryPath(inventory)
	if err != nil {
		return "", nil, err
	}
	inv, err := hwtest.LoadInventory(invPath)
	if err != nil {
		return "", nil, fmt.Errorf("%q is not a path, so it was taken as an inventory id: %w", spec, err)
	}
	entry, ok := inv.Lookup(spec)
	if !ok {
		return "", nil, usageError{fmt.Errorf("no port or inventory board named %q: give a port such as /dev/ttyUSB0 or an id listed in %s", spec, invPath)}
	}
	if entry.Sim {
		return "", &entry, nil
	}
	p, err := hwtest.PortOf(entry)
	return p, &entry, err
}

// open connects to the board and says Hello, for the operations commands
// that stream from it. label names it for output; closeFn releases it.
func (t *target) open(ctx context.Context, opts device.Options) (dev *device.Device, closeFn func() error, label string, err error) {
	conn, err := t.connect(ctx, opts)
	if err != nil {
		return nil, nil, "", err
	}
	label = conn.dev.Name()
	switch {
	case conn.entry != nil && conn.entry.Sim:
		label = conn.entry.ID + " (simulated)"
	case conn.entry != nil:
		label = conn.entry.ID + " on " + label
	}
	return conn.dev, func() error { conn.Close(); return nil }, label, nil
}

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
			var targets []resetTarget
			if all {
				invPath, err := inventoryPath(bf.inventory)
				if err != nil {
					return err
				}
				inv, err := hwtest.LoadInventory(invPath)
				if err != nil {
					return err
				}
				for _, e := range inv.Boards {
					if e.State != hwtest.Retired {
						targets = append(targets, resetTarget{entry: &e})
					}
				}
				if len(targets) == 0 {
					return fmt.Errorf("inventory %s has no boards to reset", invPath)
				}
			} else {
				path, e, err := resolve(bf.device, bf.inventory)
				if err != nil {
					return err
				}
				targets = append(targets, resetTarget{path: path, entry: e})
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

type resetTarget struct {
	path  string
	entry *hwtest.Entry
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
func resetOne(ctx context.Context, t resetTarget, opts device.Options) resetResult {
	r := resetResult{Board: t.path, Port: t.path}
	var dev *device.Device
	var closeFn func() error
	var err error
	if t.entry != nil {
		r.Board = t.entry.ID
		dev, closeFn, err = hwtest.ConnectEntry(ctx, *t.entry, opts)
	} else {
		dev, err = device.Open(ctx, t.path, opts)
		if err == nil {
			closeFn = dev.Close
		}
	}
	if err != nil {
		r.Result = "failed: " + err.Error()
		return r
	}
	defer closeFn()
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
