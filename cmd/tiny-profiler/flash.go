package main

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strconv"
	"time"

	"github.com/spf13/cobra"

	"github.com/tinyprof/tinyprof/device"
	"github.com/tinyprof/tinyprof/firmware/flash"
	"github.com/tinyprof/tinyprof/journal"
	"github.com/tinyprof/tinyprof/lab"
	"github.com/tinyprof/tinyprof/platform"
	"github.com/tinyprof/tinyprof/runbook"
	"github.com/tinyprof/tinyprof/serialport"
)

func newFlash() *cobra.Command {
	var dev, plat, fw, offset, tool, inventory string
	var verify, dryRun bool
	var baud int
	var flashTimeout, wait time.Duration
	c := &cobra.Command{
		Use:   "flash --device PATH|ID --platform P --firmware FILE",
		Short: "Check a firmware image and write it with the platform's flasher, then wait for the board to come back",
		Long: `flash checks the image from its bytes (ESP image magic and chip id; ELF machine;
UF2 family; Intel HEX records; raw binaries) against the platform, then runs
the platform's flasher found on PATH — esptool for the ESP32 family (app at
0x10000, bootloader at the chip's own offset), st-flash or
STM32_Programmer_CLI for STM32 (0x08000000), picotool for RP2040/RP2350,
nrfjprog or nrfutil for nRF52 — showing progress parsed from its output.
Afterwards it waits for the board to come back, finding it again by USB serial
number (its port may be renamed), and checks it answers HELLO as the platform.
--dry-run prints the exact commands instead.`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			switch {
			case dev == "":
				return usageError{errors.New("name the board with --device PATH|ID")}
			case plat == "":
				return usageError{errors.New("name the board's platform with --platform (see `tiny-profiler platforms`)")}
			case fw == "":
				return usageError{errors.New("name the image with --firmware FILE")}
			}
			p, err := platform.Lookup(plat)
			if err != nil {
				return usageError{err}
			}
			off := int64(-1)
			if offset != "" {
				v, err := strconv.ParseInt(offset, 0, 64)
				if err != nil || v < 0 {
					return usageError{fmt.Errorf("--offset %q: give an address such as 0x10000", offset)}
				}
				off = v
			}
			img, err := flash.InspectFile(fw)
			if err != nil {
				return err
			}
			fmt.Fprintf(c.ErrOrStderr(), "image: %s: %s, %d bytes, sha256 %s\n", fw, img.Describe(), img.Size, img.SHA256[:16])

			entry, err := lab.Resolve(dev, inventory)
			if errors.Is(err, lab.ErrNoSuchBoard) {
				return usageError{err}
			}
			if err != nil {
				return err
			}
			if entry.Kind() != lab.KindReal {
				return usageError{fmt.Errorf("board %s is %s: it has no flash to write; flash a real board, or use --device with a port", entry.ID, entry.Kind())}
			}
			path, err := lab.PortOf(entry)
			if err != nil {
				return err
			}
			serial := entry.ID
			if serial == "" { // named by its path
				if hp := hostPort(path); hp != nil {
					serial = hp.SerialNumber
				}
			}
			plan, err := flash.NewPlan(img, p, flash.Options{Port: path, Serial: serial, Offset: off, Verify: verify, Baud: baud, Tool: tool})
			if err != nil {
				return err
			}
			if dryRun {
				fmt.Fprint(c.OutOrStdout(), plan.String())
				return nil
			}
			start := time.Now()
			err = runFlash(c, plan, flashTimeout)
			ev := journal.Event{Board: orDefault(serial, path), Kind: journal.KindFlash,
				Details: map[string]any{"ok": err == nil, "firmware": filepath.Base(fw), "sha256": img.SHA256, "tool": plan.Tool, "platform": p.Name}}
			if err != nil {
				ev.Severity, ev.Message = runbook.Error, "flash failed: "+err.Error()
				record(c, ev)
				return err
			}
			ev.Message = fmt.Sprintf("flashed %s with %s", filepath.Base(fw), plan.Tool)
			record(c, ev)
			fmt.Fprintf(c.OutOrStdout(), "flashed %s to %s with %s in %.1fs\n", filepath.Base(fw), path, plan.Tool, time.Since(start).Seconds())
			if wait == 0 {
				return nil
			}
			return awaitBoard(c, path, serial, p.Name, wait)
		},
	}
	c.Flags().StringVar(&dev, "device", "", "the board: a serial port or an inventory id (its USB serial number)")
	c.Flags().StringVar(&plat, "platform", "", "the board's platform, e.g. esp32s3")
	c.Flags().StringVar(&fw, "firmware", "", "the image: .bin, .elf, .uf2 or .hex")
	c.Flags().StringVar(&offset, "offset", "", "flash address for a raw binary (default: the platform's application offset)")
	c.Flags().BoolVar(&verify, "verify", false, "read the flash back after writing")
	c.Flags().BoolVar(&dryRun, "dry-run", false, "print the flasher commands instead of running them")
	c.Flags().StringVar(&tool, "tool", "", "use this flasher, e.g. STM32_Programmer_CLI or nrfutil")
	c.Flags().IntVar(&baud, "baud", 460800, "esptool's line rate")
	c.Flags().DurationVar(&flashTimeout, "flash-timeout", 5*time.Minute, "longest a flasher step may run")
	c.Flags().DurationVar(&wait, "wait", 30*time.Second, "how long to wait for the board to come back afterwards (0: do not wait)")
	c.Flags().StringVar(&inventory, "inventory", "", "inventory file for ids (default $TINYPROF_INVENTORY, else the config directory's)")
	return c
}

// runFlash runs the plan, drawing progress on a terminal and printing
// each phase and quarter otherwise.
func runFlash(c *cobra.Command, plan *flash.Plan, timeout time.Duration) error {
	prog := newProgress(c.ErrOrStderr())
	defer prog.done()
	lastPhase, lastQuarter := "", -1
	return flash.Run(c.Context(), plan, flash.RunOptions{
		Timeout: timeout,
		OnProgress: func(p flash.Progress) {
			if p.Percent >= 0 {
				prog.update(plan.Tool+" "+p.Phase, int64(p.Percent*10), 1000, "‰")
			}
			if prog.on {
				return
			}
			q := int(p.Percent) / 25
			if p.Phase != lastPhase || (p.Percent >= 0 && q != lastQuarter) {
				if p.Percent >= 0 {
					fmt.Fprintf(c.ErrOrStderr(), "%s: %s %.0f%%\n", plan.Tool, p.Phase, p.Percent)
				} else {
					fmt.Fprintf(c.ErrOrStderr(), "%s: %s: %s\n", plan.Tool, p.Phase, p.Line)
				}
				lastPhase, lastQuarter = p.Phase, q
			}
		},
	})
}

// awaitBoard waits for the flashed board to answer HELLO as platform. A
// USB board is found again by serial number, since its port may be
// renamed when it re-enumerates; without one (a simulated board, a pty)
// the path is used.
func awaitBoard(c *cobra.Command, path, serial, plat string, wait time.Duration) error {
	ctx, cancel := context.WithTimeout(c.Context(), wait)
	defer cancel()
	if serial == "" {
		fmt.Fprintf(c.ErrOrStderr(), "%s has no USB serial number (a simulated board or a pty): reconnecting by path\n", path)
	}
	var lastErr error
	for {
		port := path
		if serial != "" {
			if p, err := serialport.FindBySerial(serial); err == nil {
				port = p.Path
			} else {
				lastErr = err
				port = ""
			}
		}
		if port != "" {
			d, err := device.Open(ctx, port, device.Options{Timeout: time.Second})
			if err == nil {
				info := d.Info()
				d.Close()
				if info.Platform != plat {
					return fmt.Errorf("after flashing, the board on %s reports platform %s, not %s: wrong image or wrong port", port, info.Platform, plat)
				}
				moved := ""
				if port != path {
					moved = fmt.Sprintf(" (moved from %s)", path)
				}
				sim := ""
				if info.Capabilities.Simulated() {
					sim = " (simulated)"
				}
				fmt.Fprintf(c.OutOrStdout(), "board back on %s%s: %s running %s%s\n", port, moved, info.Platform, info.Firmware, sim)
				return nil
			}
			lastErr = err
		}
		t := time.NewTimer(250 * time.Millisecond)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("the board did not answer HELLO within %v of flashing: %v; check the image contains the tinyprof agent, then `tiny-profiler debug-device --device %s --reset`", wait, lastErr, path)
		case <-t.C:
		}
	}
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
