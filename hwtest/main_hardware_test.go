//go:build hardware

package hwtest

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/tinyprof/tinyprof/device/eembc/eembcsim"
	"github.com/tinyprof/tinyprof/device/sim"
	"github.com/tinyprof/tinyprof/lab"
)

// serveLab gives the hardware build of this package's own tests a lab when
// the host has none — no -hwtest.inventory, no TINYPROF_INVENTORY, no
// default inventory file — as a user's suite would fail without one: two
// ESP32-S3 boards (with psram) and one MLPerf Tiny DUT, simulated but
// served on pseudo-terminals and listed as real boards with a pinned port,
// so that leases take the hardware build's path (the serial port, the real
// entry). Their firmware says it is simulated, so their figures are
// labelled so. The returned function stops them and removes the inventory.
func serveLab() (func(), error) {
	if os.Getenv(EnvInventory) != "" || slices.ContainsFunc(os.Args, func(a string) bool { return strings.Contains(a, "hwtest.inventory") }) {
		return func() {}, nil
	}
	if def, err := lab.DefaultInventoryPath(); err == nil {
		if _, err := os.Stat(def); !errors.Is(err, fs.ErrNotExist) {
			return func() {}, nil // this host has a lab: the tests use it
		}
	}
	dir, err := os.MkdirTemp("", "hwtest-served-")
	if err != nil {
		return nil, err
	}
	var closers []func() error
	stop := func() {
		for _, c := range closers {
			c()
		}
		os.RemoveAll(dir)
	}
	inv := "# Simulated boards served on pseudo-terminals for hwtest's own hardware-build tests.\nboards:\n"
	for i := 1; i <= 2; i++ {
		b, err := sim.Listen(sim.Options{Platform: "esp32s3"})
		if err != nil {
			stop()
			return nil, err
		}
		closers = append(closers, b.Close)
		inv += fmt.Sprintf("  - {id: served-esp32s3-%d, platform: esp32s3, port: %q, features: [psram]}\n", i, b.Path)
	}
	d, err := eembcsim.Listen(eembcsim.Options{})
	if err != nil {
		stop()
		return nil, err
	}
	closers = append(closers, d.Close)
	inv += fmt.Sprintf("  - {id: served-eembc-1, platform: %s, port: %q, protocol: eembc}\n", SimEEMBCPlatform, d.Path)
	path := filepath.Join(dir, "inventory.yaml")
	if err := os.WriteFile(path, []byte(inv), 0o644); err != nil {
		stop()
		return nil, err
	}
	os.Setenv(EnvInventory, path)
	fmt.Fprintf(os.Stderr, "hwtest: no lab on this host: the hardware-build tests lease simulated boards served on pseudo-terminals (%s)\n", path)
	return stop, nil
}
