package powersim_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tinyprof/tinyprof/power"
	"github.com/tinyprof/tinyprof/power/powersim"
	"github.com/tinyprof/tinyprof/power/ppk2"
)

// TestAveragerReadsLivePower: a live monitor's power is the average over
// each reading interval, in constant memory.
func TestAveragerReadsLivePower(t *testing.T) {
	sim := powersim.StartPPK2(t, powersim.PPK2Options{Waveform: power.Constant(20e-3)})
	m, err := ppk2.Open(t.Context(), sim.Path, ppk2.Options{Supply: 3.3, Simulated: true})
	require.NoError(t, err)
	defer m.Close()

	a, err := power.Average(t.Context(), m)
	require.NoError(t, err)
	defer a.Stop(context.Background())

	var p power.Power
	var n int64
	require.Eventually(t, func() bool {
		p, n, err = a.Take()
		return err == nil && n > 100
	}, 10*time.Second, 20*time.Millisecond, "samples arrive")
	assert.InEpsilon(t, 0.066, float64(p), 0.02, "20 mA at 3.3 V is 66 mW (within ADC steps)")

	// Right after a Take there is nothing new to average: an error, not 0 W.
	a2, err2 := power.Average(t.Context(), stalled{m.Info()})
	require.NoError(t, err2)
	defer a2.Stop(context.Background())
	_, _, err = a2.Take()
	require.ErrorIs(t, err, power.ErrNoSamples)
}

// stalled is a meter that starts but never sends a sample.
type stalled struct{ info power.Info }

func (s stalled) Info() power.Info          { return s.info }
func (stalled) Start(context.Context) error { return nil }
func (stalled) Stop(context.Context) error  { return nil }
func (stalled) Close() error                { return nil }
func (stalled) Read(ctx context.Context, _ []power.Sample) (int, error) {
	<-ctx.Done()
	return 0, ctx.Err()
}
