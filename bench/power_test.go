package bench_test

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tinyprof/tinyprof/bench"
	"github.com/tinyprof/tinyprof/device"
	"github.com/tinyprof/tinyprof/fixtures"
	"github.com/tinyprof/tinyprof/hwtest"
	"github.com/tinyprof/tinyprof/power"
)

// meteredLab is a lab of one simulated ESP32-S3 with a simulated meter of
// kind bound to it in the inventory, as a user's would be.
func meteredLab(t *testing.T, kind string) *hwtest.Board {
	t.Helper()
	dir := t.TempDir()
	inv := filepath.Join(dir, "inventory.yaml")
	require.NoError(t, os.WriteFile(inv, []byte("boards:\n  - id: sim-metered\n    platform: esp32s3\n    sim: true\n    meter: {kind: "+kind+"}\n"), 0o644))
	lab, err := hwtest.NewLab(hwtest.Config{Inventory: inv, LeaseDir: filepath.Join(dir, "leases"), JournalDir: filepath.Join(dir, "journal")})
	require.NoError(t, err)
	return lab.Lease(t)
}

// TestEnergyPerTokenMatchesSimulator is the end-to-end test: a
// simulated board and a simulated meter bound in an inventory, wired by
// the board's GPIO (PPK2 logic D0; LPM01A event D7) or aligned by clock;
// the energy the meter path reports holds, within its stated bounds, the
// energy the simulator dissipated, and bench.Generate reports mW and mJ
// per token that agree with it.
func TestEnergyPerTokenMatchesSimulator(t *testing.T) {
	model := fixtures.Llama2C(fixtures.Stories260K, fixtures.Seed)
	// Enough tokens that the window is long beside clock alignment's few
	// milliseconds of uncertainty at the simulated esp32s3's rate (package
	// platform/cost).
	const tokens = 12
	for _, tt := range []struct {
		kind string
		by   bench.WindowBy
		want string
	}{
		{"ppk2", bench.WindowAuto, "logic D0"},
		{"lpm01a", bench.WindowAuto, "event D7"},
		{"ppk2", bench.WindowClock, "clock alignment"},
	} {
		t.Run(tt.kind+"/"+tt.want, func(t *testing.T) {
			board := meteredLab(t, tt.kind)
			require.NotNil(t, board.Sim())
			m := board.Meter(t)
			assert.True(t, m.Info().Simulated)
			pm := bench.NewPowerMeter(m, board, bench.PowerOptions{Window: tt.by})

			ctx := t.Context()
			_, err := board.LoadModel(ctx, bytesReader(model), int64(len(model)), device.LoadOptions{Name: "stories260k"})
			require.NoError(t, err)
			require.NoError(t, pm.Begin(ctx))
			g, err := board.Generate(ctx, device.GenerateRequest{Prompt: "Once upon a time", MaxTokens: tokens, Seed: 42})
			require.NoError(t, err)
			e, err := pm.End(ctx, g)
			require.NoError(t, err)

			s := g.Summary
			truth, err := board.Sim().Energy(s.StartUS, s.StartUS+uint64(s.TTFTUS)+uint64(s.DecodeUS))
			require.NoError(t, err)
			t.Logf("%s: %.4f mJ (%.4f–%.4f) over %.1f ms ±%.3f ms, idle %.1f mW; simulator %.4f mJ",
				e.Window, e.Joules*1e3, e.JoulesMin*1e3, e.JoulesMax*1e3, e.Seconds*1e3, e.Uncertainty*1e3, e.IdleWatts*1e3, float64(truth)*1e3)
			assert.Equal(t, tt.want, e.Window)
			assert.True(t, e.Simulated)
			// The bounds hold the meter's own error (a PPK2's ADC step, an
			// LPM01A's stated accuracy) as well as the window's: no margin.
			assert.LessOrEqual(t, e.JoulesMin, float64(truth))
			assert.GreaterOrEqual(t, e.JoulesMax, float64(truth))
			assert.Positive(t, e.IdleWatts)
			assert.Less(t, e.IdleWatts, e.Joules/e.Seconds, "idle power is below the generation's")

			// bench.Generate over the same path: every generation is the
			// same on the deterministic board, so its J/tok is this one's.
			r, cfg := runGenerate(t, board, bench.Tokens(tokens), bench.WithMeter(pm))
			require.Positive(t, r.N, "the benchmark failed")
			assert.Contains(t, cfg, "power-source: meter "+tt.kind)
			perTok := float64(truth) / tokens
			assert.InEpsilon(t, perTok, r.Extra["J/tok"], 0.05)
			assert.LessOrEqual(t, r.Extra["J/tok-min"], perTok)
			assert.GreaterOrEqual(t, r.Extra["J/tok-max"], perTok)
			assert.InEpsilon(t, float64(truth)/e.Seconds, r.Extra["W"], 0.05)
			t.Logf("bench.Generate: %.1f mW, %.4f mJ/token (%.4f–%.4f), idle %.1f mW",
				r.Extra["W"]*1e3, r.Extra["J/tok"]*1e3, r.Extra["J/tok-min"]*1e3, r.Extra["J/tok-max"]*1e3, r.Extra["idle-W"]*1e3)
		})
	}
}

// TestPowerMeterNoWire: a meter whose logic input never moves (the wire is
// missing) yields a clear error, never a figure.
func TestPowerMeterNoWire(t *testing.T) {
	board := meteredLab(t, "ppk2")
	m := board.Meter(t)
	pm := bench.NewPowerMeter(m, board, bench.PowerOptions{Window: bench.WindowLogic, LogicBit: 3, Timeout: 5 * time.Second})
	ctx := t.Context()
	require.NoError(t, pm.Begin(ctx))
	g, err := board.Generate(ctx, device.GenerateRequest{Prompt: "x", MaxTokens: 1})
	require.Error(t, err, "no model loaded")
	_, err = pm.End(ctx, g)
	require.NoError(t, err, "End after a failed generation only stops")

	model := fixtures.Llama2C(fixtures.Stories260K, fixtures.Seed)
	_, err = board.LoadModel(ctx, bytesReader(model), int64(len(model)), device.LoadOptions{})
	require.NoError(t, err)
	require.NoError(t, pm.Begin(ctx))
	g, err = board.Generate(ctx, device.GenerateRequest{Prompt: "x", MaxTokens: 2})
	require.NoError(t, err)
	_, err = pm.End(ctx, g)
	require.ErrorIs(t, err, power.ErrNoSamples)
	assert.Contains(t, err.Error(), "logic input D3")
}

func bytesReader(b []byte) *bytes.Reader { return bytes.NewReader(b) }
