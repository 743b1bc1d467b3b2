package lab_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tinyprof/tinyprof/lab"
)

func TestMeterBinding(t *testing.T) {
	head := "boards:\n  - id: b1\n    platform: esp32s3\n"
	tests := []struct{ name, yaml, err string }{
		{"real ppk2 by port", head + "    meter: {kind: ppk2, port: /dev/ttyACM1, logic-bit: 2}\n", ""},
		{"sim lpm01a", head + "    sim: true\n    meter: {kind: lpm01a}\n", ""},
		{"unknown kind", head + "    meter: {kind: joulescope, port: /dev/x}\n", "inv.yaml:4: board \"b1\": unknown meter kind \"joulescope\""},
		{"no port for a real board", head + "    meter: {kind: ppk2}\n", "inv.yaml:4: board \"b1\": the meter needs a port or an id"},
		{"logic bit out of range", head + "    meter:\n      kind: ppk2\n      port: /dev/x\n      logic-bit: 9\n", "inv.yaml:7: board \"b1\": meter logic-bit 9"},
		{"lpm01a has no logic", head + "    meter: {kind: lpm01a, port: /dev/x, logic-bit: 1}\n", "the LPM01A has no logic inputs"},
		{"unknown key", head + "    meter: {kind: ppk2, port: /dev/x, rate: 5}\n", "inv.yaml:4: board \"b1\": meter: unknown key \"rate\""},
		{"sim with a port", head + "    sim: true\n    meter: {kind: ppk2, port: /dev/x}\n", "a simulated board's meter is simulated too"},
		{"supply out of range", head + "    meter: {kind: ppk2, port: /dev/x, supply: 9}\n", "outside the PPK2's 0.8–5V"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			inv, err := lab.ParseInventory("inv.yaml", []byte(tt.yaml))
			if tt.err == "" {
				require.NoError(t, err)
				require.NotNil(t, inv.Boards[0].Meter)
				return
			}
			require.ErrorIs(t, err, lab.ErrInventory)
			assert.Contains(t, err.Error(), tt.err)
		})
	}
}
