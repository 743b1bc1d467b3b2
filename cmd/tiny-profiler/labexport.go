package main

import (
	"context"
	"fmt"
	"os/exec"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/tinyprof/tinyprof/lab"
	"github.com/tinyprof/tinyprof/lab/export"
	"github.com/tinyprof/tinyprof/serialport"
)

func newLab() *cobra.Command {
	c := &cobra.Command{
		Use:   "lab",
		Short: "Work with a lab of many machines in etcd",
	}
	c.AddCommand(newLabExport())
	return c
}

func newLabExport() *cobra.Command {
	labf := labFlags{required: true}
	var inventory, config, advertise, listen, ser2netBin, reloadCmd string
	var basePort int
	var poll time.Duration
	var check, runSer2net bool
	c := &cobra.Command{
		Use:   "export",
		Short: "Serve this host's boards through ser2net and publish them in the lab",
		Long: `export runs on each lab host until stopped (Ctrl-C, SIGTERM). It finds the
inventory's boards on this host by USB serial number, writes the ser2net
configuration that serves each one over RFC 2217 (a board keeps its TCP port:
--base-port plus its place in the inventory), and publishes each board — id,
platform, features, meter binding, rfc2217:// address — in the lab's etcd under
a lease of its own. A board that is unplugged is withdrawn, and published again
when it comes back, on whichever /dev/ttyUSBn it gets. When export stops, every
board it published is withdrawn at once; if it dies, when its lease runs out.

ser2net must read the configuration export writes: --run-ser2net runs it as a
child of export (SIGHUP on every change); otherwise --reload-command runs after
every change (e.g. "systemctl reload ser2net"). --check writes nothing: it says
whether the file is what export would write for the boards plugged in now.
Simulated inventory entries (sim: true) are started and served from their
pseudo-terminals, for trying a lab out without boards; emulated ones (emulate:
MACHINE) are started in QEMU and served from their UART's pseudo-terminal.`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			if check {
				boards, err := exportBoards(inventory)
				if err != nil {
					return err
				}
				return checkExport(c, boards, config, listen, basePort)
			}
			es, err := labf.open(c.Context())
			if err != nil {
				return err
			}
			defer es.Close()
			boards, err := exportBoards(inventory)
			if err != nil {
				return err
			}
			var reload func(ctx context.Context) error
			var bin string
			switch {
			case runSer2net:
				if bin = ser2netBin; bin == "" {
					if bin, err = export.FindSer2net(); err != nil {
						return err
					}
				}
			case reloadCmd != "":
				args := strings.Fields(reloadCmd)
				reload = func(ctx context.Context) error {
					out, err := exec.CommandContext(ctx, args[0], args[1:]...).CombinedOutput()
					if err != nil {
						return fmt.Errorf("%s: %w: %s", reloadCmd, err, out)
					}
					return nil
				}
			}
			logf := func(format string, args ...any) {
				fmt.Fprintf(c.ErrOrStderr(), "%s %s\n", time.Now().Format("15:04:05"), printable(fmt.Sprintf(format, args...)))
			}
			return export.Run(c.Context(), export.Options{
				Store: es, Boards: boards, Advertise: advertise, Listen: listen, BasePort: basePort,
				Ser2netConfig: config, Reload: reload, Ser2net: bin, Poll: poll, Logf: logf,
			})
		},
	}
	labf.register(c)
	c.Flags().StringVar(&inventory, "inventory", "", "inventory file of the boards this host may have (default $TINYPROF_INVENTORY, else the config directory's)")
	c.Flags().StringVar(&config, "ser2net-config", "/etc/ser2net.yaml", "ser2net configuration `file` to write")
	c.Flags().BoolVar(&check, "check", false, "only check that the ser2net configuration serves the boards plugged in now")
	c.Flags().BoolVar(&runSer2net, "run-ser2net", false, "run ser2net as a child, reloading it on every change")
	c.Flags().StringVar(&ser2netBin, "ser2net", "", "ser2net binary for --run-ser2net (default: on PATH or /usr/sbin)")
	c.Flags().StringVar(&reloadCmd, "reload-command", "", "command run after the configuration changed, e.g. \"systemctl reload ser2net\"")
	c.Flags().StringVar(&advertise, "advertise", "", "host name or address leasers reach this host at (default: the host name)")
	c.Flags().StringVar(&listen, "listen", "", "address ser2net listens on (default: every interface)")
	c.Flags().IntVar(&basePort, "base-port", 3330, "TCP port of the inventory's first board")
	c.Flags().DurationVar(&poll, "poll", 2*time.Second, "how often to look for boards plugged in or out")
	return c
}

// exportBoards reads the inventory export serves.
func exportBoards(inventory string) ([]lab.Entry, error) {
	path, err := lab.InventoryPath(inventory)
	if err != nil {
		return nil, err
	}
	inv, err := lab.LoadInventory(path)
	if err != nil {
		return nil, err
	}
	return inv.Boards, nil
}

// checkExport compares the ser2net configuration file with what export
// would write for the real boards plugged in now.
func checkExport(c *cobra.Command, boards []lab.Entry, config, listen string, basePort int) error {
	ports, err := serialport.Detect()
	if err != nil {
		return err
	}
	served, missing := export.Plan(boards, ports, basePort)
	for _, id := range missing {
		fmt.Fprintf(c.ErrOrStderr(), "%s is not plugged in: not in the configuration\n", id)
	}
	if err := export.CheckConfig(config, export.Config(served, listen)); err != nil {
		fmt.Fprintln(c.ErrOrStderr(), err)
		return exitError(1)
	}
	fmt.Fprintf(c.OutOrStdout(), "%s: serves the %d boards plugged in\n", config, len(served))
	return nil
}
