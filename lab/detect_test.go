package lab_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tinyprof/tinyprof/device"
	"github.com/tinyprof/tinyprof/device/eembc"
	"github.com/tinyprof/tinyprof/device/eembc/eembcsim"
	"github.com/tinyprof/tinyprof/device/sim"
	"github.com/tinyprof/tinyprof/lab"
)

// TestConnectRefusesAnEEMBCBoard: Connect sends no tinyprof frame to an
// MLPerf Tiny DUT, which would crash it on its next command; it says to
// use the EEMBC protocol, and the DUT keeps working. A tinyprof board on
// a port connects as ever.
func TestConnectRefusesAnEEMBCBoard(t *testing.T) {
	dut := eembcsim.Start(t, eembcsim.Options{Vendor: "ref"})
	for _, e := range []lab.Entry{{Port: dut.Path}, {ID: "dut-1", Platform: "stm32h7", Port: dut.Path}} {
		_, err := lab.Connect(t.Context(), e, lab.ConnectOptions{Device: device.Options{Timeout: time.Second}})
		require.ErrorIs(t, err, eembc.ErrIsEEMBC)
		var be *lab.EEMBCBoardError
		require.ErrorAs(t, err, &be)
		assert.Equal(t, lab.EEMBCBoardError{Port: dut.Path, ID: e.ID, Evidence: "m-name-dut-[ref]"}, *be)
		if e.ID == "" {
			assert.ErrorContains(t, err, "use --protocol eembc")
		} else {
			assert.ErrorContains(t, err, "mark it `protocol: eembc` in the inventory")
		}
		assert.False(t, dut.Crashed(), "no frame reached the DUT")
	}

	b := sim.Start(t, sim.Options{})
	conn, err := lab.Connect(t.Context(), lab.Entry{Port: b.Path}, lab.ConnectOptions{})
	require.NoError(t, err)
	assert.Equal(t, "esp32s3", conn.Device.Info().Platform)
	require.NoError(t, conn.Close())
}
