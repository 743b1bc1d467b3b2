package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/tinyprof/tinyprof/bench"
	"github.com/tinyprof/tinyprof/device"
	"github.com/tinyprof/tinyprof/device/sim"
	"github.com/tinyprof/tinyprof/firmware"
	"github.com/tinyprof/tinyprof/lab"
	"github.com/tinyprof/tinyprof/platform"
	"github.com/tinyprof/tinyprof/serialport"
)

func newDetectDevices() *cobra.Command {
	var asJSON, force bool
	var inventory string
	c := &cobra.Command{
		Use:   "detect-devices",
		Short: "List serial ports and the boards their USB ids suggest",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			ports, err := serialport.Detect()
			if err != nil {
				return err
			}
			if inventory != "" {
				if err := writeInventoryDraft(inventory, force, lab.DraftInventory(ports)); err != nil {
					return err
				}
				fmt.Fprintf(c.ErrOrStderr(), "wrote %s: check each board's platform, then run `tiny-profiler inventory check %s`\n", inventory, inventory)
			}
			if asJSON {
				if ports == nil {
					ports = []serialport.Info{}
				}
				return writeJSON(c.OutOrStdout(), ports)
			}
			if len(ports) == 0 {
				fmt.Fprintln(c.OutOrStdout(), "no serial ports found (simulated and emulated boards are not listed: use --sim PLATFORM or --emulate MACHINE)")
				return nil
			}
			tw := tabwriter.NewWriter(c.OutOrStdout(), 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "PORT\tUSB ID\tSERIAL\tBRIDGE\tPLATFORMS")
			for _, p := range ports {
				id := "-"
				if p.USB {
					id = p.VID + ":" + p.PID
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", p.Path, id, dash(p.SerialNumber), dash(p.Bridge), dash(strings.Join(p.Platforms, ",")))
			}
			if err := tw.Flush(); err != nil {
				return err
			}
			usb := false
			for _, p := range ports {
				usb = usb || p.USB
			}
			if !usb {
				fmt.Fprintln(c.OutOrStdout(), "no USB serial ports: these are built-in UARTs, not a plugged-in board. Plug one in, or try a board without one: --sim PLATFORM (simulated) or --emulate MACHINE (QEMU; see `tiny-profiler platforms`)")
			}
			return nil
		},
	}
	c.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	c.Flags().StringVar(&inventory, "write-inventory", "", "also draft an inventory file for the boards found")
	c.Flags().BoolVar(&force, "force", false, "with --write-inventory, overwrite an existing file")
	return c
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func newTestConnection() *cobra.Command {
	var t target
	var asJSON bool
	var count int
	c := &cobra.Command{
		Use:   "test-connection",
		Short: "Open a board, check it speaks the protocol, and time round trips",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			if count <= 0 {
				return usageError{fmt.Errorf("--count must be positive")}
			}
			conn, err := t.connect(c.Context(), device.Options{})
			if err != nil {
				return err
			}
			defer conn.Close()
			var rtts []time.Duration
			for i := 0; i < count; i++ {
				rtt, err := conn.Device.Ping(c.Context(), []byte(fmt.Sprintf("ping %d", i)))
				if err != nil {
					return err
				}
				rtts = append(rtts, rtt)
			}
			info := conn.Device.Info()
			res := struct {
				Port      string          `json:"port"`
				Simulated bool            `json:"simulated"`
				Emulated  string          `json:"emulated,omitempty"` // the label of an emulated board
				Info      *firmware.Info  `json:"info"`
				Pings     int             `json:"pings"`
				RTTs      []time.Duration `json:"rtt_ns"`
			}{conn.Device.Name(), info.Capabilities.Simulated(), bench.EmulatedLabel(info), info, count, rtts}
			if asJSON {
				return writeJSON(c.OutOrStdout(), res)
			}
			sim := ""
			if res.Simulated {
				sim = " (simulated board)"
			}
			if res.Emulated != "" {
				sim = " (" + res.Emulated + ")"
			}
			fmt.Fprintf(c.OutOrStdout(), "ok: %s is a %s running %s, protocol v%d%s\n", res.Port, info.Platform, info.Firmware, info.ProtocolVersion, sim)
			fmt.Fprintf(c.OutOrStdout(), "%s: round trip min %v, max %v (host wall clock over the link)\n", countOf(count, "ping", "pings"), minDur(rtts), maxDur(rtts))
			return nil
		},
	}
	t.flags(c)
	c.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	c.Flags().IntVar(&count, "count", 5, "pings to send")
	return c
}

func minDur(d []time.Duration) time.Duration {
	m := d[0]
	for _, v := range d {
		m = min(m, v)
	}
	return m.Round(time.Microsecond)
}

func maxDur(d []time.Duration) time.Duration {
	m := d[0]
	for _, v := range d {
		m = max(m, v)
	}
	return m.Round(time.Microsecond)
}

func newSystemInfo() *cobra.Command {
	var t target
	var asJSON bool
	c := &cobra.Command{
		Use:   "system-info",
		Short: "Show everything the board reports, and the host side of its port",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			conn, err := t.connect(c.Context(), device.Options{})
			if err != nil {
				return err
			}
			defer conn.Close()
			m, err := conn.Device.Metrics(c.Context())
			if err != nil {
				return err
			}
			info := conn.Device.Info()
			host := hostPort(conn.Device.Name())
			res := struct {
				Port      string             `json:"port"`
				Simulated bool               `json:"simulated"`
				Emulated  string             `json:"emulated,omitempty"` // the label of an emulated board
				Host      *serialport.Info   `json:"host_port,omitempty"`
				Info      *firmware.Info     `json:"info"`
				Metrics   *firmware.Metrics  `json:"metrics"`
				Catalogue *platform.Platform `json:"catalogue,omitempty"`
			}{Port: conn.Device.Name(), Simulated: info.Capabilities.Simulated(), Emulated: bench.EmulatedLabel(info), Host: host, Info: info, Metrics: m}
			if p, err := platform.Lookup(info.Platform); err == nil {
				res.Catalogue = &p
			}
			if asJSON {
				return writeJSON(c.OutOrStdout(), res)
			}
			tw := tabwriter.NewWriter(c.OutOrStdout(), 0, 0, 2, ' ', 0)
			p := func(k, f string, a ...any) { fmt.Fprintf(tw, "%s\t"+f+"\n", append([]any{k}, a...)...) }
			p("port", "%s", res.Port)
			if res.Simulated {
				p("simulated", "yes: memory and timing figures are modelled, not measured")
			}
			if res.Emulated != "" {
				p("emulated", "%s: times count guest instructions (1 ns each); memory figures are the firmware's own", res.Emulated)
			}
			if host != nil && host.USB {
				p("usb", "%s:%s serial %s (%s %s) %s", host.VID, host.PID, dash(host.SerialNumber), host.Manufacturer, host.Product, host.Bridge)
			}
			p("platform", "%s (%s)", info.Platform, info.Chip)
			p("firmware", "%s, protocol v%d, boot id %08x", info.Firmware, info.ProtocolVersion, info.BootID)
			p("cpu", "%d MHz", info.CPUMHz)
			p("memory", "SRAM %s, PSRAM %s, flash %s", kib(int64(info.SRAM)), kib(int64(info.PSRAM)), kib(int64(info.Flash)))
			p("heap", "free %s, lowest ever %s, largest block %s", kib(int64(m.FreeHeap)), kib(int64(m.MinFreeHeap)), kib(int64(m.LargestFree)))
			if info.PSRAM > 0 {
				p("psram", "free %s, lowest ever %s", kib(int64(m.PSRAMFree)), kib(int64(m.PSRAMMinFree)))
			}
			p("uptime", "%v", (time.Duration(m.UptimeUS) * time.Microsecond).Round(time.Millisecond))
			p("cpu load", "%.1f%%", float64(m.CPULoad)/10)
			if m.HasPower {
				p("power", "%.1f mW at %d mV", float64(m.PowerUW)/1000, m.VoltageMV)
			}
			p("max payload", "%d bytes", info.MaxPayload)
			return tw.Flush()
		},
	}
	t.flags(c)
	c.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return c
}

// hostPort finds what the host knows about the port at path.
func hostPort(path string) *serialport.Info {
	real, err := filepath.EvalSymlinks(path)
	if err != nil {
		return nil
	}
	ports, _ := serialport.Detect()
	for _, p := range ports {
		if r, err := filepath.EvalSymlinks(p.Path); err == nil && r == real {
			return &p
		}
	}
	return nil
}

func kib(n int64) string { return fmt.Sprintf("%.1f KiB", float64(n)/1024) }

func newResetDevice() *cobra.Command {
	var t target
	var asJSON, hard bool
	var plat string
	c := &cobra.Command{
		Use:   "reset-device",
		Short: "Restart the board's firmware and wait for it to come back",
		Long: `reset-device restarts the board with a protocol RESET (default) or, with
--hard, by pulsing the EN line through RTS as esptool does on ESP32 boards.
It waits for the board to announce a new boot and checks --platform if given.`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			conn, err := t.connect(c.Context(), device.Options{})
			if err != nil {
				return err
			}
			defer conn.Close()
			before := conn.Device.Info()
			if plat != "" {
				want, err := platform.Lookup(plat)
				if err != nil {
					return usageError{err}
				}
				if before.Platform != want.Name {
					return fmt.Errorf("board on %s is a %s, not a %s: check the port", conn.Device.Name(), before.Platform, want.Name)
				}
			}
			start := time.Now()
			var info *firmware.Info
			if hard {
				info, err = conn.Device.HardReset(c.Context())
			} else {
				info, err = conn.Device.Reset(c.Context())
			}
			if err != nil {
				return err
			}
			res := struct {
				Port      string  `json:"port"`
				Hard      bool    `json:"hard"`
				OldBootID uint32  `json:"old_boot_id"`
				NewBootID uint32  `json:"new_boot_id"`
				Seconds   float64 `json:"seconds"`
				Platform  string  `json:"platform"`
				Firmware  string  `json:"firmware"`
			}{conn.Device.Name(), hard, before.BootID, info.BootID, time.Since(start).Seconds(), info.Platform, info.Firmware}
			if asJSON {
				return writeJSON(c.OutOrStdout(), res)
			}
			fmt.Fprintf(c.OutOrStdout(), "reset: %s came back in %.2fs, boot id %08x -> %08x, %s %s\n",
				res.Port, res.Seconds, res.OldBootID, res.NewBootID, res.Platform, res.Firmware)
			return nil
		},
	}
	t.flags(c)
	c.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	c.Flags().BoolVar(&hard, "hard", false, "reset through the DTR/RTS lines instead of a protocol RESET")
	c.Flags().StringVar(&plat, "platform", "", "fail unless the board reports this platform")
	return c
}

func newSimulate() *cobra.Command {
	var plat string
	var faults sim.Faults
	var pf placeFlags
	c := &cobra.Command{
		Use:   "simulate",
		Short: "Serve a simulated board on a pseudo-terminal until interrupted",
		Long: `simulate starts a simulated board behind a pseudo-terminal and prints its path,
so that other tools (or tiny-profiler --device PATH) can talk to it. Its timing
and memory figures are modelled by a cost model, not measured. It places a
model where analyze-model --platform says, with the same --weights-in and --ctx,
and refuses one that does not fit with analyze-model's verdict.`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			if p, err := platform.Lookup(plat); err == nil && p.Emulated {
				return usageError{fmt.Errorf("%s is an emulated machine, not a simulated platform: use `tiny-profiler emulate --machine %s`", p.Name, p.Name)}
			}
			cfg, err := pf.fitConfig()
			if err != nil {
				return err
			}
			b, err := sim.Listen(sim.Options{Platform: plat, Faults: faults, Fit: cfg, CPUMHz: pf.cpuMHz, Cores: pf.cores})
			if err != nil {
				return usageError{err}
			}
			defer b.Close()
			fmt.Fprintf(c.OutOrStdout(), "%s\n", b.Path)
			if f, ok := c.OutOrStdout().(*os.File); ok {
				f.Sync()
			}
			<-c.Context().Done()
			return nil
		},
	}
	c.Flags().StringVar(&plat, "platform", "esp32s3", "platform to simulate")
	c.Flags().BoolVar(&faults.BootNoise, "boot-noise", true, "print ROM boot text at each boot")
	c.Flags().IntVar(&faults.LeakPerGenerate, "leak", 0, "bytes of heap to leak per generation")
	pf.flags(c)
	return c
}

func newPlatforms() *cobra.Command {
	var asJSON bool
	c := &cobra.Command{
		Use:   "platforms",
		Short: "List the platform catalogue",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			all := platform.All()
			if asJSON {
				return writeJSON(c.OutOrStdout(), all)
			}
			tw := tabwriter.NewWriter(c.OutOrStdout(), 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "PLATFORM\tCORE\tMHZ\tSRAM\tPSRAM\tFLASH\tFPU\tFLASHER")
			for _, p := range all {
				fmt.Fprintf(tw, "%s\t%d× %s\t%d\t%s\t%s\t%s\t%s\t%s\n", p.Name, p.Cores, p.Core, p.CPUMHz, kib(p.SRAM), kib(p.PSRAM), kib(p.Flash), p.FPU, p.FlashTool)
			}
			return tw.Flush()
		},
	}
	c.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return c
}
