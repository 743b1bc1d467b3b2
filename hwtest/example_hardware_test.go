//go:build hardware

package hwtest_test

import (
	"testing"

	"github.com/tinyprof/tinyprof/hwtest"
)

// Built with -tags=hardware, Lease serves real boards from the inventory
// (-hwtest.inventory, TINYPROF_INVENTORY, or ~/.config/tinyprof/inventory.yaml).
// Without an inventory the test fails: a hardware build with no lab cannot
// run. Without a free, healthy board it is skipped as infrastructure;
// -hwtest.fail-infra fails it instead. (This package's own TestMain serves
// simulated boards on pseudo-terminals when the host has no inventory.)
func TestHardwareExample(t *testing.T) {
	hwtest.RequireHardware(t)
	dev := hwtest.Lease(t, hwtest.Platform("esp32s3"), hwtest.Feature("psram"))
	info := dev.Info()
	if info.PSRAM == 0 {
		t.Errorf("%s is listed with psram but reports none", dev.Entry.ID)
	}
}
