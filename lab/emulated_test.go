package lab

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tinyprof/tinyprof/device"
	"github.com/tinyprof/tinyprof/device/emu"
	"github.com/tinyprof/tinyprof/platform"
)

// The catalogue's emulated rows are device/emu's machines, with the
// memories the firmware reports.
func TestEmulatedPlatformsMatchMachines(t *testing.T) {
	var names []string
	for _, m := range emu.Machines() {
		names = append(names, m.Name)
		p, err := platform.Lookup(m.Name)
		require.NoError(t, err)
		assert.True(t, p.Emulated, m.Name)
		assert.Equal(t, []int64{int64(m.SRAM), int64(m.PSRAM), int64(m.Flash), int64(m.ClockHz / 1e6)},
			[]int64{p.SRAM, p.PSRAM, p.Flash, int64(p.CPUMHz)}, "%s: SRAM, PSRAM, flash, MHz", m.Name)
	}
	assert.ElementsMatch(t, names, platform.Emulated())
}

func TestParseInventoryEmulated(t *testing.T) {
	inv, err := ParseInventory("lab.yaml", []byte(`boards:
  - {id: emu-m4, emulate: mps2-an386}
  - {id: emu-m7, emulate: mps2-an500, platform: mps2-an500, features: [psram]}
`))
	require.NoError(t, err)
	want := []Entry{
		{ID: "emu-m4", Platform: "mps2-an386", Emulate: "mps2-an386", Protocol: ProtocolTinyprof, State: Good, Line: 2},
		{ID: "emu-m7", Platform: "mps2-an500", Emulate: "mps2-an500", Features: []string{"psram"}, Protocol: ProtocolTinyprof, State: Good, Line: 3},
	}
	if diff := cmp.Diff(want, inv.Boards); diff != "" {
		t.Errorf("boards (-want +got):\n%s", diff)
	}
	for _, e := range inv.Boards {
		assert.Equal(t, KindEmulated, e.Kind())
		_, err := PortOf(e)
		assert.ErrorContains(t, err, "is emulated: it has no port until it is started")
	}

	for _, tc := range []struct{ name, text, want string }{
		{"unknown machine", "boards:\n  - {id: a, emulate: mps3-an547}\n", `lab.yaml:2: board "a": emu: no emulated machine "mps3-an547"; choose one of mps2-an386`},
		{"other platform", "boards:\n  - {id: a, emulate: mps2-an386, platform: stm32f4}\n", `board "a": an emulated mps2-an386 is platform mps2-an386, not "stm32f4"`},
		{"also sim", "boards:\n  - {id: a, emulate: mps2-an386, sim: true}\n", "simulated (`sim: true`) or emulated (`emulate: mps2-an386`), not both"},
		{"port", "boards:\n  - {id: a, emulate: mps2-an386, port: /dev/ttyUSB0}\n", "an emulated board has no port until it is started"},
		{"eembc", "boards:\n  - {id: a, emulate: mps2-an386, protocol: eembc}\n", "an emulated board runs the tinyprof agent"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseInventory("lab.yaml", []byte(tc.text))
			require.ErrorIs(t, err, ErrInventory)
			assert.ErrorContains(t, err, tc.want)
		})
	}
}

// A simulated entry cannot name an emulated machine: nothing models it.
func TestConnectSimRefusesEmulatedPlatform(t *testing.T) {
	_, err := Connect(t.Context(), Entry{ID: "s", Platform: "mps2-an386", Sim: true}, ConnectOptions{})
	assert.ErrorContains(t, err, "mps2-an386 is an emulated machine, not a simulated platform: use `emulate: mps2-an386`")
}

// Connect starts the QEMU machine an emulated entry names, talks to the
// real firmware through the serial client, and Close stops QEMU.
func TestConnectEmulated(t *testing.T) {
	NeedEmulation(t)
	e := Entry{ID: "emu-a", Platform: "mps2-an386", Emulate: "mps2-an386", Protocol: ProtocolTinyprof, State: Good}
	c, err := Connect(t.Context(), e, ConnectOptions{Device: device.Options{Timeout: 5 * time.Second}})
	require.NoError(t, err)
	assert.True(t, c.Emulated())
	assert.False(t, c.Simulated())
	require.NotNil(t, c.Emu)
	assert.Equal(t, "mps2-an386", c.Device.Info().Platform)
	assert.Equal(t, "emu-a (emulated: QEMU mps2-an386, instruction-count time, not cycle-accurate)", c.Label())
	_, err = c.Device.Ping(t.Context(), []byte("hi"))
	require.NoError(t, err)
	require.NoError(t, c.Close())
	assert.True(t, c.Emu.Exited(), "Close stops QEMU")
	require.NoError(t, c.Close(), "Close is idempotent")
}
