package sim_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/tinyprof/tinyprof/device"
	"github.com/tinyprof/tinyprof/device/sim"
	"github.com/tinyprof/tinyprof/firmware/conformance"
	"github.com/tinyprof/tinyprof/fixtures"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestConformance runs the protocol conformance suite, the same one the C
// agent passes, against simulated boards through the real serial stack.
func TestConformance(t *testing.T) {
	model := fixtures.Llama2C(fixtures.Stories260K, fixtures.Seed)
	for _, p := range []string{"esp32s3", "esp32p4", "stm32h7"} {
		t.Run(p, func(t *testing.T) {
			b := sim.Start(t, sim.Options{Platform: p, Faults: sim.Faults{BootNoise: true}})
			ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
			defer cancel()
			port, err := device.OpenSerial(ctx, b.Path, 0)
			require.NoError(t, err)
			defer port.Close()
			require.NoError(t, conformance.Test(ctx, port, conformance.Options{Model: model, ModelName: "stories260k.bin"}))
		})
	}
}

// TestRejectsUnknownFormat checks the board's answer to a model it cannot
// run is conformant.
func TestRejectsUnknownFormat(t *testing.T) {
	b := sim.Start(t, sim.Options{})
	port, err := device.OpenSerial(t.Context(), b.Path, 0)
	require.NoError(t, err)
	defer port.Close()
	require.NoError(t, conformance.Test(t.Context(), port, conformance.Options{AllowUnsupportedFormat: true}))
}
