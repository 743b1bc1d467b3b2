package powersim_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/tinyprof/tinyprof/platform"
	"github.com/tinyprof/tinyprof/power"
	"github.com/tinyprof/tinyprof/power/lpm01a"
	"github.com/tinyprof/tinyprof/power/powermodel"
	"github.com/tinyprof/tinyprof/power/powersim"
	"github.com/tinyprof/tinyprof/power/ppk2"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// board is a modelled ESP32-S3 that idles, then runs generations during
// which it raises the GPIO wired to the meter; the exact energy it
// dissipates in each is known in closed form.
type board struct {
	model        powermodel.Model
	idle, active power.Current
	gens         [][2]time.Duration
	tokensPerGen int
}

func newBoard(t *testing.T, gens ...[2]time.Duration) board {
	p, err := platform.Lookup("esp32s3")
	require.NoError(t, err)
	m, err := powermodel.Board(p)
	require.NoError(t, err)
	return board{model: m, gens: gens, tokensPerGen: 16,
		idle:   m.Current(powermodel.Activity{}),
		active: m.Current(powermodel.Activity{Cores: 1, PSRAMBytesPerSec: p.Bandwidth.PSRAM})}
}

func (b board) wave() power.Waveform { return power.Pulses(b.idle, b.active, b.gens...) }

// dissipated is the energy the board really drew in generation i.
func (b board) dissipated(i int) float64 {
	return float64(b.active.Times(b.model.Supply)) * (b.gens[i][1] - b.gens[i][0]).Seconds()
}

// TestEnergyPerTokenPPK2 wires a modelled board to a simulated PPK2
// through its logic port D0: per-generation energy and energy per token
// come out within the stated bounds of what the board dissipated, and
// idle power is reported apart.
func TestEnergyPerTokenPPK2(t *testing.T) {
	b := newBoard(t, [2]time.Duration{20 * time.Millisecond, 65 * time.Millisecond}, [2]time.Duration{80 * time.Millisecond, 133 * time.Millisecond})
	sim := powersim.StartPPK2(t, powersim.PPK2Options{Waveform: b.wave()})
	m, err := ppk2.Open(t.Context(), sim.Path, ppk2.Options{Supply: b.model.Supply, Simulated: true})
	require.NoError(t, err)
	defer m.Close()
	rec, err := power.Record(t.Context(), m, 20000)
	require.NoError(t, err)
	for rec.Len() < 15000 {
		time.Sleep(5 * time.Millisecond)
	}
	tr, err := rec.Stop(t.Context())
	require.NoError(t, err)
	assert.True(t, tr.Info.Simulated)

	idle, err := power.Idle(tr.Samples, power.Window{Start: 0, End: 19 * time.Millisecond})
	require.NoError(t, err)
	assert.InEpsilon(t, float64(b.idle.Times(b.model.Supply)), float64(idle), 1e-3)

	ws, err := power.LogicWindows(tr.Samples, 0)
	require.NoError(t, err)
	require.Len(t, ws, 2)
	for i, w := range ws {
		r, err := power.Integrate(tr.Samples, w)
		require.NoError(t, err)
		truth := b.dissipated(i)
		assert.LessOrEqual(t, float64(r.EnergyMin), truth, "window %d: %v", i, r)
		assert.GreaterOrEqual(t, float64(r.EnergyMax), truth, "window %d: %v", i, r)
		per, err := r.PerToken(b.tokensPerGen)
		require.NoError(t, err)
		assert.InEpsilon(t, truth/float64(b.tokensPerGen), float64(per), 2e-3)
		t.Logf("generation %d: %v; %v per token; idle %v", i, r, per, idle)
	}
}

// TestEnergyLPM01AClockAligned runs the same board on a simulated LPM01A
// with no wire: the windows are placed by a clock alignment, and the
// uncertainty it states must hold the dissipated energy.
func TestEnergyLPM01AClockAligned(t *testing.T) {
	b := newBoard(t, [2]time.Duration{300 * time.Millisecond, 700 * time.Millisecond})
	sim := powersim.StartLPM01A(t, powersim.LPM01AOptions{Waveform: b.wave()})
	m, err := lpm01a.Open(t.Context(), sim.Path, lpm01a.Options{Supply: b.model.Supply, Rate: 5000, Simulated: true})
	require.NoError(t, err)
	defer m.Close()
	rec, err := power.Record(t.Context(), m, 0)
	require.NoError(t, err)
	for rec.Len() < 5000 {
		time.Sleep(5 * time.Millisecond)
	}
	tr, err := rec.Stop(t.Context())
	require.NoError(t, err)

	// The board's clock reads 10 s when the meter's reads 0, known to
	// ±3 ms: the board reports the generation at 10.3–10.7 s.
	align := power.Alignment{Offset: -10 * time.Second, Uncertainty: 3 * time.Millisecond}
	w := align.Window(10300*time.Millisecond+2*time.Millisecond, 10700*time.Millisecond+2*time.Millisecond) // 2 ms off, within ±3 ms
	r, err := power.Integrate(tr.Samples, w)
	require.NoError(t, err)
	truth := b.dissipated(0)
	assert.LessOrEqual(t, float64(r.EnergyMin), truth)
	assert.GreaterOrEqual(t, float64(r.EnergyMax), truth)
	t.Logf("clock-aligned: %v (truth %v)", r, power.Energy(truth))
}
