package main

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/tinyprof/tinyprof/device/emu"
	"github.com/tinyprof/tinyprof/platform"
)

// emulatedMachine checks that name, given to flag, is an emulated machine
// of the catalogue and returns its canonical name.
func emulatedMachine(name, flag string) (string, error) {
	p, err := platform.Lookup(name)
	if err != nil || !p.Emulated {
		return "", usageError{fmt.Errorf("%s %q: not an emulated machine; choose one of %s", flag, name, strings.Join(platform.Emulated(), ", "))}
	}
	return p.Name, nil
}

func newEmulate() *cobra.Command {
	var machine string
	var seed uint32
	c := &cobra.Command{
		Use:   "emulate",
		Short: "Serve tinyprof's firmware on an emulated Cortex-M (QEMU) on a pseudo-terminal until interrupted",
		Long: `emulate builds tinyprof's firmware for a QEMU machine (on first use, with
arm-none-eabi-gcc, into the build cache), starts qemu-system-arm with the board's
UART on a pseudo-terminal and prints its path, so that other tools (or
tiny-profiler --device PATH) can talk to it. Ctrl-C stops it and QEMU with it.

The firmware is real; the machine is emulated. QEMU runs with -icount shift=0:
each guest instruction advances the board's clock by 1 ns, so every time it
reports is an exact, repeatable instruction count, not a cycle count of real
silicon. Figures from it are labelled "emulated: QEMU MACHINE,
instruction-count time, not cycle-accurate".

Machines: ` + strings.Join(platform.Emulated(), ", ") + `. Needs the Debian packages
qemu-system-arm, gcc-arm-none-eabi and libnewlib-arm-none-eabi.`,
		Example: `  tiny-profiler emulate --machine mps2-an386
  tiny-profiler benchmark --device /dev/pts/7 --tokens 16`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			m, err := emulatedMachine(machine, "--machine")
			if err != nil {
				return err
			}
			b, err := emu.Listen(c.Context(), emu.Options{Machine: m, Seed: seed})
			if errors.Is(err, emu.ErrToolMissing) {
				return usageError{err}
			}
			if err != nil {
				return err
			}
			defer b.Close()
			fmt.Fprintf(c.OutOrStdout(), "%s\n", b.Path)
			if f, ok := c.OutOrStdout().(*os.File); ok {
				f.Sync()
			}
			fmt.Fprintf(c.ErrOrStderr(), "%s: %s, firmware %s; Ctrl-C stops it\n", m, b.Label(), b.Firmware.ELF)
			// Poll: a QEMU that dies on its own ends the command too.
			tick := time.NewTicker(250 * time.Millisecond)
			defer tick.Stop()
			for !b.Exited() {
				select {
				case <-c.Context().Done():
					return b.Close()
				case <-tick.C:
				}
			}
			return fmt.Errorf("QEMU exited: the emulated %s is gone", m)
		},
	}
	c.Flags().StringVar(&machine, "machine", "mps2-an386", "QEMU machine: "+strings.Join(platform.Emulated(), ", "))
	c.Flags().Uint32Var(&seed, "seed", 0, "entropy for the firmware's boot ids (0: random)")
	return c
}
