package lab

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/stretchr/testify/require"

	"github.com/tinyprof/tinyprof/serialport"
)

func TestParseInventory(t *testing.T) {
	const text = `# the lab
boards:
  - id: "3C84F00D1234"
    platform: ESP32S3
    features: [psram, power-meter]
    notes: bench 2
  - id: sim-a
    platform: rp2040
    sim: true
    state: maintenance
  - {id: "0670FF", platform: stm32h7, protocol: eembc}
`
	inv, err := ParseInventory("lab.yaml", []byte(text))
	require.NoError(t, err)
	want := []Entry{
		{ID: "3C84F00D1234", Platform: "esp32s3", Features: []string{"psram", "power-meter"}, Notes: "bench 2",
			Protocol: "tinyprof", State: Good, Line: 3},
		{ID: "sim-a", Platform: "rp2040", Sim: true, State: Maintenance, Protocol: "tinyprof", Line: 7},
		{ID: "0670FF", Platform: "stm32h7", State: Good, Protocol: "eembc", Line: 11},
	}
	if diff := cmp.Diff(want, inv.Boards); diff != "" {
		t.Errorf("boards (-want +got):\n%s", diff)
	}
	e, ok := inv.Lookup("sim-a")
	require.True(t, ok)
	require.Equal(t, 7, e.Line)

	// Marshal reads back to the same entries.
	data, err := inv.Marshal()
	require.NoError(t, err)
	again, err := ParseInventory("again.yaml", data)
	require.NoError(t, err)
	if diff := cmp.Diff(inv.Boards, again.Boards, cmpopts.IgnoreFields(Entry{}, "Line")); diff != "" {
		t.Errorf("round trip (-want +got):\n%s", diff)
	}
}

func TestParseInventoryErrors(t *testing.T) {
	for _, tc := range []struct {
		name, text string
		want       []string // each must appear in the error
	}{
		{"bad yaml", "boards:\n  - id: a\n    platform: [esp32s3\n", []string{"lab.yaml:2: bad YAML: did not find expected ',' or ']'"}}, // yaml.v3 reports the line before the flow list
		{"tab indent", "boards:\n\t- id: a\n", []string{"lab.yaml:2: bad YAML"}},
		{"unknown platform", "boards:\n  - id: a\n    platform: esp99\n", []string{`lab.yaml:3: board "a": unknown platform "esp99": known platforms are`, "esp32s3"}},
		{"duplicate id", "boards:\n  - {id: a, platform: esp32s3}\n  - {id: b, platform: esp32s3}\n  - {id: a, platform: rp2040}\n",
			[]string{`lab.yaml:4: duplicate id "a" (first at line 2)`}},
		{"missing id", "boards:\n  - platform: esp32s3\n", []string{"lab.yaml:2: board has no id"}},
		{"missing platform", "boards:\n  - id: a\n", []string{`lab.yaml:2: board "a" has no platform`}},
		{"unknown key", "boards:\n  - id: a\n    platfrom: esp32s3\n", []string{`lab.yaml:3: unknown key "platfrom"`}},
		{"bad state", "boards:\n  - {id: a, platform: esp32s3, state: broken}\n", []string{`lab.yaml:2: board "a": unknown state "broken"`}},
		{"wrong type", "boards:\n  - id: a\n    platform: esp32s3\n    baud: fast\n", []string{"lab.yaml:4: baud: cannot unmarshal"}},
		{"sim with port", "boards:\n  - {id: a, platform: esp32s3, sim: true, port: /dev/ttyUSB0}\n", []string{"lab.yaml:2:", "simulated board has no port"}},
		{"not a list", "boards: esp32s3\n", []string{"lab.yaml:1: `boards:` must be a list"}},
		{"no boards key", "board:\n  - id: a\n", []string{`lab.yaml:1: unknown key "board"`, "missing `boards:`"}},
		{"empty", "", []string{"lab.yaml: empty file"}},
		{"bad protocol", "boards:\n  - id: a\n    platform: stm32h7\n    protocol: mlperf\n",
			[]string{`lab.yaml:4: board "a": unknown protocol "mlperf" (use tinyprof, for the tinyprof agent, or eembc`}},
		{"eembc with meter", "boards:\n  - id: a\n    platform: stm32h7\n    protocol: eembc\n    meter: {kind: ppk2, port: /dev/ttyACM1}\n",
			[]string{`lab.yaml:5: board "a": hwtest wires no meter to an eembc board`}},
		{"every problem", "boards:\n  - {id: a, platform: nope}\n  - {id: b}\n", []string{"lab.yaml:2:", "lab.yaml:3:"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseInventory("lab.yaml", []byte(tc.text))
			require.Error(t, err)
			require.ErrorIs(t, err, ErrInventory)
			for _, w := range tc.want {
				require.Contains(t, err.Error(), w)
			}
		})
	}
}

func TestLoadInventory(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "lab.yaml")
	_, err := LoadInventory(path)
	require.ErrorIs(t, err, os.ErrNotExist)
	require.Contains(t, err.Error(), "detect-devices --write-inventory")

	require.NoError(t, os.WriteFile(path, []byte("boards:\n"), 0o644))
	inv, err := LoadInventory(path)
	require.NoError(t, err)
	require.Empty(t, inv.Boards)
	require.Equal(t, path, inv.Path)

	require.NoError(t, os.WriteFile(path, []byte("boards:\n  - {id: x, platform: esp99}\n"), 0o644))
	_, err = LoadInventory(path)
	var pe *PositionError
	require.True(t, errors.As(err, &pe))
	require.Equal(t, path, pe.File)
	require.Equal(t, 2, pe.Line)
}

func TestDraftInventory(t *testing.T) {
	ports := []serialport.Info{
		{Path: "/dev/ttyACM0", USB: true, VID: "303A", PID: "1001", SerialNumber: "F4:12:FA:00:11:22",
			Manufacturer: "Espressif", Bridge: "Espressif USB-Serial/JTAG", Platforms: []string{"esp32s3", "esp32p4"}},
		{Path: "/dev/ttyUSB0", USB: true, VID: "1A86", PID: "7523", Bridge: "CH340", Platforms: []string{"esp32", "esp32s3"}},
		{Path: "/dev/ttyUSB1", USB: true, VID: "2E8A", PID: "000A", SerialNumber: "0123456789", Platforms: []string{"rp2040"}},
		{Path: "/dev/ttyS0"},
	}
	out := DraftInventory(ports)
	text := string(out)
	for _, w := range []string{`id: F4:12:FA:00:11:22`, "platform: esp32s3 # or esp32p4: check",
		"port: /dev/ttyUSB0 # no unique USB serial number", `id: "0123456789"`} {
		require.Contains(t, text, w)
	}
	require.NotContains(t, text, "ttyS0")
	inv, err := ParseInventory("draft.yaml", out)
	require.NoError(t, err, text)
	require.Len(t, inv.Boards, 3)
	require.Equal(t, "0123456789", inv.Boards[2].ID)
	require.Equal(t, "ttyUSB0", inv.Boards[1].ID)

	// A board no USB id identifies drafts an empty platform, which check rejects.
	bad := DraftInventory([]serialport.Info{{Path: "/dev/ttyUSB3", USB: true, VID: "FFFF", PID: "0001", SerialNumber: "X1"}})
	_, err = ParseInventory("draft.yaml", bad)
	require.ErrorContains(t, err, `draft.yaml:`)
	require.ErrorContains(t, err, `has no platform`)

	empty := DraftInventory(nil)
	inv, err = ParseInventory("empty.yaml", empty)
	require.NoError(t, err, string(empty))
	require.Empty(t, inv.Boards)
}

func TestDefaultPaths(t *testing.T) {
	t.Setenv("XDG_CONFIG_HOME", "/cfg")
	t.Setenv("XDG_STATE_HOME", "/state")
	p, err := DefaultInventoryPath()
	require.NoError(t, err)
	require.Equal(t, "/cfg/tinyprof/inventory.yaml", p)
	d, err := DefaultLeaseDir()
	require.NoError(t, err)
	require.Equal(t, "/state/tinyprof/leases", d)
}
