package meters_test

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/tinyprof/tinyprof/power"
	"github.com/tinyprof/tinyprof/power/meters"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestLookup(t *testing.T) {
	assert.Equal(t, []string{"ppk2", "lpm01a"}, meters.Names())
	assert.Equal(t, "ppk2 or lpm01a", meters.Choices())
	for _, name := range meters.Names() {
		k, err := meters.Lookup(name)
		require.NoError(t, err)
		assert.Equal(t, name, k.Name)
		assert.True(t, k.LogicInputs > 0 || k.EventInput != "", "%s takes the board's GPIO somewhere", name)
	}
	_, err := meters.Lookup("joulescope")
	require.ErrorIs(t, err, meters.ErrUnknownKind)
	assert.EqualError(t, err, `unknown meter kind "joulescope": ppk2 or lpm01a`)
}

func TestChecks(t *testing.T) {
	tests := []struct {
		kind   string
		supply power.Voltage
		bit    uint
		err    string
	}{
		{"ppk2", 0, 0, ""},
		{"ppk2", 5, 7, ""},
		{"ppk2", 9, 0, "supply 9V outside the PPK2's 0.8–5V"},
		{"ppk2", 3.3, 8, "logic-bit 8: the PPK2 has inputs D0–D7"},
		{"lpm01a", 1.8, 0, ""},
		{"lpm01a", 5, 0, "supply 5V outside the LPM01A's 1.8–3.3V"},
		{"lpm01a", 3, 1, "logic-bit 1: the LPM01A has no logic inputs: wire the board's GPIO to its event input D7 and remove logic-bit"},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%s/%v/%d", tt.kind, tt.supply, tt.bit), func(t *testing.T) {
			k, err := meters.Lookup(tt.kind)
			require.NoError(t, err)
			var errs []string
			for _, e := range []error{k.CheckSupply(tt.supply), k.CheckLogicBit(tt.bit)} {
				if e != nil {
					errs = append(errs, e.Error())
				}
			}
			if tt.err == "" {
				assert.Empty(t, errs)
				return
			}
			assert.Equal(t, []string{tt.err}, errs)
		})
	}
}

// Every kind's simulated meter is read by its real driver, marked
// simulated, and measures the waveform it is given.
func TestOpenSimulated(t *testing.T) {
	for _, k := range meters.Kinds() {
		t.Run(k.Name, func(t *testing.T) {
			m, closeFn, err := k.OpenSimulated(t.Context(), power.Constant(20e-3), meters.Options{}, meters.SimOptions{})
			require.NoError(t, err)
			defer closeFn()
			info := m.Info()
			assert.Equal(t, k.Name, info.Kind)
			assert.True(t, info.Simulated)
			require.NoError(t, m.Start(t.Context()))
			buf := make([]power.Sample, 64)
			n, err := m.Read(t.Context(), buf)
			require.NoError(t, err)
			require.Positive(t, n)
			assert.InDelta(t, 20e-3, float64(buf[n-1].Current), 1e-3)
			require.NoError(t, m.Stop(t.Context()))
		})
	}
	_, _, err := meters.OpenSimulated(t.Context(), "nope", power.Constant(0), meters.Options{}, meters.SimOptions{})
	require.ErrorIs(t, err, meters.ErrUnknownKind)
}
