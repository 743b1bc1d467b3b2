package lab

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tinyprof/tinyprof/device"
	"github.com/tinyprof/tinyprof/device/sim"
	"github.com/tinyprof/tinyprof/power"
)

// Connect serves each kind of entry, and its Conn says what it connected.
func TestConnect(t *testing.T) {
	b := sim.Start(t, sim.Options{Platform: "rp2040"}) // a board already on a port
	tests := []struct {
		name      string
		e         Entry
		platform  string
		simulated bool
		label     string
	}{
		{"sim entry", Entry{ID: "sim-a", Platform: "esp32s3", Sim: true}, "esp32s3", true, "sim-a (simulated)"},
		{"sim platform", Entry{Platform: "stm32h7", Sim: true}, "stm32h7", true, "stm32h7 (simulated)"},
		{"port", Entry{Port: b.Path}, "rp2040", false, b.Path},
		{"inventory port", Entry{ID: "bench-1", Platform: "rp2040", Port: b.Path}, "rp2040", false, "bench-1 on " + b.Path},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Connect(t.Context(), tt.e, ConnectOptions{Device: device.Options{Timeout: time.Second}})
			require.NoError(t, err)
			assert.Equal(t, tt.platform, c.Device.Info().Platform)
			assert.Equal(t, tt.simulated, c.Simulated())
			assert.Equal(t, tt.simulated, c.Sim != nil)
			assert.Equal(t, tt.label, c.Label())
			assert.Equal(t, tt.e, c.Entry)
			require.NoError(t, c.Close())
			require.NoError(t, c.Close(), "Close is idempotent")
		})
	}
}

// A simulated entry's firmware and id reach the simulated board, so that
// it behaves alike in every process; faults come through the options.
func TestConnectSimOptions(t *testing.T) {
	e := Entry{ID: "sim-fw", Platform: "esp32s3", Sim: true, Firmware: "tinyprof-agent/0.3.1"}
	c1, err := Connect(t.Context(), e, ConnectOptions{})
	require.NoError(t, err)
	defer c1.Close()
	c2, err := Connect(t.Context(), e, ConnectOptions{})
	require.NoError(t, err)
	defer c2.Close()
	assert.Equal(t, "tinyprof-agent/0.3.1", c1.Device.Info().Firmware)
	assert.Equal(t, c1.Device.Info().BootID, c2.Device.Info().BootID, "seeded from the id")
	assert.NotEqual(t, c1.Sim.Path, c2.Sim.Path, "each Connect starts its own board")

	_, err = Connect(t.Context(), e, ConnectOptions{Device: device.Options{Timeout: 200 * time.Millisecond},
		Sim: sim.Options{Faults: sim.Faults{Silent: true}}})
	require.Error(t, err)

	_, err = Connect(t.Context(), Entry{ID: "gone", Port: filepath.Join(t.TempDir(), "ttyNOPE")}, ConnectOptions{})
	require.Error(t, err)
	_, err = Connect(t.Context(), Entry{ID: "x", Platform: "esp99", Sim: true}, ConnectOptions{})
	require.ErrorContains(t, err, "esp99")
}

func TestResolve(t *testing.T) {
	dir := t.TempDir()
	inv := filepath.Join(dir, "lab.yaml")
	require.NoError(t, os.WriteFile(inv, []byte("boards:\n  - {id: sim-a, platform: esp32s3, sim: true}\n  - {id: bench-1, platform: esp32, port: /dev/ttyNOPE0}\n"), 0o644))

	e, err := Resolve("/dev/ttyUSB0", inv)
	require.NoError(t, err)
	assert.Equal(t, Entry{Port: "/dev/ttyUSB0", Protocol: ProtocolTinyprof, State: Good}, e)
	assert.Equal(t, KindReal, e.Kind())

	e, err = Resolve("sim-a", inv)
	require.NoError(t, err)
	assert.Equal(t, KindSimulated, e.Kind())
	assert.Equal(t, "esp32s3", e.Platform)
	e, err = Resolve("bench-1", inv)
	require.NoError(t, err)
	p, err := PortOf(e)
	require.NoError(t, err)
	assert.Equal(t, "/dev/ttyNOPE0", p)

	_, err = Resolve("nosuch", inv)
	require.ErrorIs(t, err, ErrNoSuchBoard)
	assert.EqualError(t, err, `no port or inventory board named "nosuch": give a port such as /dev/ttyUSB0 or an id listed in `+inv)

	t.Setenv(EnvInventory, inv)
	_, err = Resolve("sim-a", "")
	require.NoError(t, err, "the inventory defaults to $TINYPROF_INVENTORY")
	_, err = Resolve("sim-a", filepath.Join(dir, "none.yaml"))
	require.ErrorContains(t, err, `"sim-a" is not a path, so it was taken as an inventory id`)

	_, err = PortOf(Entry{ID: "sim-a", Sim: true})
	require.ErrorContains(t, err, "board sim-a is simulated: it has no port")
}

// OpenMeter wires a simulated meter of the bound kind to a simulated
// board, and says what to add when an entry binds none.
func TestOpenMeter(t *testing.T) {
	for _, kind := range []string{"ppk2", "lpm01a"} {
		t.Run(kind, func(t *testing.T) {
			c, err := Connect(t.Context(), Entry{ID: "m", Platform: "esp32s3", Sim: true, Meter: &MeterBinding{Kind: kind}}, ConnectOptions{})
			require.NoError(t, err)
			defer c.Close()
			m, closeFn, err := OpenMeter(t.Context(), c)
			require.NoError(t, err)
			defer closeFn()
			info := m.Info()
			assert.Equal(t, kind, info.Kind)
			assert.True(t, info.Simulated)
			require.NoError(t, m.Start(t.Context()))
			buf := make([]power.Sample, 32)
			n, err := m.Read(t.Context(), buf)
			require.NoError(t, err)
			assert.Positive(t, buf[n-1].Current, "the board's modelled idle current")
			require.NoError(t, m.Stop(t.Context()))
		})
	}
	c, err := Connect(t.Context(), Entry{ID: "bare", Platform: "esp32s3", Sim: true}, ConnectOptions{})
	require.NoError(t, err)
	defer c.Close()
	_, _, err = OpenMeter(t.Context(), c)
	require.ErrorIs(t, err, ErrNoMeter)
	assert.ErrorContains(t, err, "add `meter: {kind: ppk2, port: /dev/ttyACM1}`")

	_, _, err = SimMeter(t.Context(), c.Sim, "lpm01a", 3)
	require.ErrorContains(t, err, "the LPM01A has no logic inputs")
	_, _, err = SimMeter(t.Context(), c.Sim, "joulescope", 0)
	require.ErrorContains(t, err, `unknown meter kind "joulescope"`)
}
