package power_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/tinyprof/tinyprof/power"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// trace returns n samples every period drawing f(t) from v volts.
func trace(n int, period time.Duration, v power.Voltage, f func(t time.Duration) power.Current) []power.Sample {
	s := make([]power.Sample, n)
	for i := range s {
		t := time.Duration(i) * period
		s[i] = power.Sample{Time: t, Current: f(t), Voltage: v}
	}
	return s
}

func TestIntegrate(t *testing.T) {
	flat := trace(1001, time.Millisecond, 2, func(time.Duration) power.Current { return 0.5 })
	// A ramp from 0 to 1 A over 1 s: the trapezoid is exact on it.
	ramp := trace(1001, time.Millisecond, 1, func(t time.Duration) power.Current { return power.Current(t.Seconds()) })
	tests := []struct {
		name    string
		s       []power.Sample
		w       power.Window
		energy  float64
		samples int
	}{
		{"constant, whole", flat, power.Window{Start: 0, End: time.Second}, 1, 1001},
		{"constant, between samples", flat, power.Window{Start: 250500 * time.Microsecond, End: 750500 * time.Microsecond}, 0.5, 500},
		{"ramp 0.2–0.6 s", ramp, power.Window{Start: 200 * time.Millisecond, End: 600 * time.Millisecond}, (0.36 - 0.04) / 2, 401},
		{"ramp off-grid", ramp, power.Window{Start: 100500 * time.Microsecond, End: 100700 * time.Microsecond}, 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := power.Integrate(tt.s, tt.w)
			if tt.samples == 0 {
				require.ErrorIs(t, err, power.ErrNoSamples)
				return
			}
			require.NoError(t, err)
			assert.InDelta(t, tt.energy, float64(r.Energy), 1e-9)
			assert.Equal(t, tt.samples, r.Samples)
			assert.InDelta(t, tt.energy/tt.w.Duration().Seconds(), float64(r.Average), 1e-9)
			assert.Equal(t, r.Energy, r.EnergyMin)
			assert.Equal(t, r.Energy, r.EnergyMax)
		})
	}
}

func TestIntegrateUncertaintyBoundsTruth(t *testing.T) {
	// A step: 1 W inside [300, 700) ms, 0.1 W outside, sampled every ms.
	s := trace(1001, time.Millisecond, 1, func(t time.Duration) power.Current {
		if t >= 300*time.Millisecond && t < 700*time.Millisecond {
			return 1
		}
		return 0.1
	})
	truth := 0.4 // J
	for _, shift := range []time.Duration{-3 * time.Millisecond, 0, 2 * time.Millisecond} {
		w := power.Window{Start: 300*time.Millisecond + shift, End: 700*time.Millisecond + shift, Uncertainty: 3 * time.Millisecond}
		r, err := power.Integrate(s, w)
		require.NoError(t, err)
		assert.LessOrEqual(t, float64(r.EnergyMin), truth, "shift %v", shift)
		assert.GreaterOrEqual(t, float64(r.EnergyMax), truth, "shift %v", shift)
	}
}

func TestIntegrateMeterErrorWidensBounds(t *testing.T) {
	// The meter reads 1 A ± 10 mA for a second at 1 V; the device truly
	// drew 1.009 A, inside the meter's error and outside its reading.
	s := trace(1001, time.Millisecond, 1, func(time.Duration) power.Current { return 1 })
	for i := range s {
		s[i].CurrentError = 10 * power.Milliampere
	}
	const truth = 1.009 // J
	w := power.Window{Start: 0, End: time.Second}
	r, err := power.Integrate(s, w)
	require.NoError(t, err)
	assert.InDelta(t, 1.0, float64(r.Energy), 1e-12)
	assert.InDelta(t, 0.99, float64(r.EnergyMin), 1e-12)
	assert.InDelta(t, 1.01, float64(r.EnergyMax), 1e-12)
	assert.LessOrEqual(t, float64(r.EnergyMin), truth)
	assert.GreaterOrEqual(t, float64(r.EnergyMax), truth)

	// With edge uncertainty, each bound takes the error over its own
	// window: 0.98 s shrunk, 1 s grown (clipped to the trace).
	w = power.Window{Start: 10 * time.Millisecond, End: 990 * time.Millisecond, Uncertainty: 10 * time.Millisecond}
	r, err = power.Integrate(s, w)
	require.NoError(t, err)
	assert.InDelta(t, 0.96*0.99, float64(r.EnergyMin), 1e-12)
	assert.InDelta(t, 1.0*1.01, float64(r.EnergyMax), 1e-12)
}

func TestIntegrateGapWidensBounds(t *testing.T) {
	s := trace(100, time.Millisecond, 1, func(time.Duration) power.Current { return 1 })
	s = append(s[:40], s[60:]...) // 20 samples lost: 39 ms is followed by 60 ms
	s[40].Gap = true
	r, err := power.Integrate(s, power.Window{Start: 10 * time.Millisecond, End: 90 * time.Millisecond})
	require.NoError(t, err)
	assert.Equal(t, 21*time.Millisecond, r.Missing, "the interval bridged")
	assert.InDelta(t, 0.08, float64(r.Energy), 1e-12, "interpolated across the gap")
	assert.InDelta(t, 0.059, float64(r.EnergyMin), 1e-12, "nothing drawn in the gap")
	assert.InDelta(t, 0.08, float64(r.EnergyMax), 1e-12, "the peak drawn in the gap")
}

func TestIntegrateErrors(t *testing.T) {
	s := trace(10, time.Millisecond, 3.3, func(time.Duration) power.Current { return 1e-3 })
	noV := trace(10, time.Millisecond, 0, func(time.Duration) power.Current { return 1e-3 })
	tests := []struct {
		name string
		s    []power.Sample
		w    power.Window
		want error
	}{
		{"empty trace", nil, power.Window{Start: 0, End: 1}, power.ErrNoSamples},
		{"after the trace", s, power.Window{Start: 5 * time.Millisecond, End: 20 * time.Millisecond}, power.ErrNoSamples},
		{"between two samples", s, power.Window{Start: 2100 * time.Microsecond, End: 2900 * time.Microsecond}, power.ErrNoSamples},
		{"reversed", s, power.Window{Start: 5, End: 1}, power.ErrBadArgument},
		{"no voltage", noV, power.Window{Start: 0, End: 5 * time.Millisecond}, power.ErrNoVoltage},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := power.Integrate(tt.s, tt.w)
			require.ErrorIs(t, err, tt.want)
			var pe *power.Error
			require.True(t, errors.As(err, &pe))
		})
	}
}

func TestPerToken(t *testing.T) {
	r := power.Result{Energy: 12e-3}
	e, err := r.PerToken(64)
	require.NoError(t, err)
	assert.InDelta(t, 12e-3/64, float64(e), 1e-15)
	_, err = r.PerToken(0)
	require.ErrorIs(t, err, power.ErrBadArgument)
}

func TestLogicWindows(t *testing.T) {
	s := trace(20, 10*time.Microsecond, 3, func(time.Duration) power.Current { return 1e-3 })
	high := map[int]bool{0: true, 1: true, 5: true, 6: true, 7: true, 12: true, 19: true}
	for i := range s {
		s[i].HasLogic = true
		if high[i] {
			s[i].Logic = 1 << 2
		}
	}
	ws, err := power.LogicWindows(s, 2)
	require.NoError(t, err)
	want := []power.Window{
		{Start: 45 * time.Microsecond, End: 75 * time.Microsecond, Uncertainty: 5 * time.Microsecond, Source: "logic D2"},
		{Start: 115 * time.Microsecond, End: 125 * time.Microsecond, Uncertainty: 5 * time.Microsecond, Source: "logic D2"},
	}
	if diff := cmp.Diff(want, ws); diff != "" {
		t.Errorf("windows (-want +got):\n%s", diff)
	}
	s[3].HasLogic = false
	_, err = power.LogicWindows(s, 2)
	require.ErrorIs(t, err, power.ErrProtocol)
	_, err = power.LogicWindows(s, 8)
	require.ErrorIs(t, err, power.ErrBadArgument)
}

func TestMarkerWindows(t *testing.T) {
	s := trace(10, time.Millisecond, 3, func(time.Duration) power.Current { return 1e-3 })
	s[2].Marker, s[5].Marker = true, true
	ws, err := power.MarkerWindows(s, time.Millisecond)
	require.NoError(t, err)
	require.Equal(t, []power.Window{{Start: 2 * time.Millisecond, End: 5 * time.Millisecond, Uncertainty: time.Millisecond, Source: "event D7"}}, ws)
	s[7].Marker = true
	_, err = power.MarkerWindows(s, time.Millisecond)
	require.ErrorIs(t, err, power.ErrProtocol)
}

func TestAlignment(t *testing.T) {
	// The board said 5.000 s into a request sent at host 10.000 s and
	// answered at 10.004 s: board time + 5.002 s = host time, ±2 ms.
	board, err := power.RoundTrip(10*time.Second, 10004*time.Millisecond, 5*time.Second, 0)
	require.NoError(t, err)
	assert.Equal(t, power.Alignment{Offset: 5002 * time.Millisecond, Uncertainty: 2 * time.Millisecond, At: 5 * time.Second}, board)
	// The meter started at host 9.5 s ±1 ms: meter = host − 9.5 s.
	meter := power.Alignment{Offset: -9500 * time.Millisecond, Uncertainty: time.Millisecond}
	w := board.Then(meter).Window(6*time.Second, 7*time.Second)
	assert.Equal(t, power.Window{Start: 1502 * time.Millisecond, End: 2502 * time.Millisecond, Uncertainty: 3 * time.Millisecond, Source: "clock alignment"}, w)
	// 100 ppm of drift over 2 s from the alignment adds 200 µs.
	board.DriftPPM = 100
	_, u := board.Local(7 * time.Second)
	assert.Equal(t, 2200*time.Microsecond, u)
	assert.Equal(t, time.Duration(1), power.Best(power.Alignment{Uncertainty: 3}, power.Alignment{Uncertainty: 1}).Uncertainty)
	_, err = power.RoundTrip(2, 1, 0, 0)
	require.ErrorIs(t, err, power.ErrBadArgument)
}

func TestINA(t *testing.T) {
	// INA226, 0.1 Ω shunt, 0.8192 A max → Current_LSB 25 µA, CAL =
	// 0.00512 / (25e-6 × 0.1) = 2048 (the datasheet's own example).
	c, err := power.NewINA("ina226", 0.1, 0.8192)
	require.NoError(t, err)
	assert.Equal(t, uint16(2048), c.Calibration())
	v, i, p := c.Decode(2640, 4000, 3300)
	assert.InDelta(t, 3.3, float64(v), 1e-12)    // 2640 × 1.25 mV
	assert.InDelta(t, 0.1, float64(i), 1e-12)    // 4000 × 25 µA
	assert.InDelta(t, 2.0625, float64(p), 1e-12) // 3300 × 25 × 25 µA
	_, i, _ = c.Decode(0, 0xFFFF, 0)             // −1 LSB
	assert.InDelta(t, -25e-6, float64(i), 1e-15) // signed
	c, err = power.NewINA("ina219", 0.1, 3.2768)
	require.NoError(t, err)
	assert.Equal(t, uint16(4096), c.Calibration()) // 0.04096 / (1e-4 × 0.1)
	v, _, p = c.Decode(825<<3, 0, 100)
	assert.InDelta(t, 3.3, float64(v), 1e-12) // 825 × 4 mV
	assert.InDelta(t, 0.2, float64(p), 1e-12) // 100 × 20 × 100 µA
	_, err = power.NewINA("ina999", 0.1, 1)
	require.ErrorIs(t, err, power.ErrBadArgument)
	_, err = power.NewINA("ina226", 0, 1)
	require.ErrorIs(t, err, power.ErrBadArgument)

	pw, vv, ii, err := power.FromMetrics(power.Metrics{Measured: true, PowerUW: 104610, VoltageMV: 3300, CurrentUA: 31700})
	require.NoError(t, err)
	assert.Equal(t, "104.6mW 3.3V 31.7mA", fmt.Sprint(pw, vv, ii))
	_, _, _, err = power.FromMetrics(power.Metrics{})
	require.ErrorIs(t, err, power.ErrNoSamples)
}

// fakeMeter streams a fixed current at 1 kHz, in reads of ten samples.
type fakeMeter struct {
	n       int
	failAt  int
	stopped bool
}

func (f *fakeMeter) Info() power.Info                { return power.Info{Kind: "fake", Rate: 1000} }
func (f *fakeMeter) Start(ctx context.Context) error { return nil }
func (f *fakeMeter) Stop(ctx context.Context) error  { f.stopped = true; return nil }
func (f *fakeMeter) Close() error                    { return nil }
func (f *fakeMeter) Read(ctx context.Context, dst []power.Sample) (int, error) {
	if f.failAt > 0 && f.n >= f.failAt {
		return 0, &power.Error{Op: "read", Code: power.CodeTimeout}
	}
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	time.Sleep(time.Millisecond)
	k := min(10, len(dst))
	for i := range k {
		dst[i] = power.Sample{Time: time.Duration(f.n) * time.Millisecond, Current: 1e-3, Voltage: 3}
		f.n++
	}
	return k, nil
}

func TestRecorder(t *testing.T) {
	t.Run("limit", func(t *testing.T) {
		m := &fakeMeter{}
		r, err := power.Record(t.Context(), m, 50)
		require.NoError(t, err)
		for r.Len() < 50 {
			time.Sleep(time.Millisecond)
		}
		tr, err := r.Stop(t.Context())
		require.NoError(t, err)
		assert.Len(t, tr.Samples, 50)
		assert.True(t, m.stopped)
		for i, s := range tr.Samples {
			require.Equal(t, time.Duration(i)*time.Millisecond, s.Time)
		}
	})
	t.Run("meter error", func(t *testing.T) {
		m := &fakeMeter{failAt: 30}
		r, err := power.Record(t.Context(), m, 0)
		require.NoError(t, err)
		// Wait for the failing read itself: 30 samples are in one read
		// before it, and a Stop between the two would end the recording
		// cleanly (a flake CI once hit).
		for r.Err() == nil {
			time.Sleep(time.Millisecond)
		}
		tr, err := r.Stop(t.Context())
		require.ErrorIs(t, err, power.ErrTimeout)
		assert.Len(t, tr.Samples, 30)
	})
}

// BenchmarkIntegrate integrates one second of PPK2-rate samples (100,000)
// per op; the baseline is a plain loop summing the same samples' power.
func BenchmarkIntegrate(b *testing.B) {
	s := trace(100001, 10*time.Microsecond, 3.3, func(t time.Duration) power.Current { return power.Current(1e-3 + t.Seconds()*1e-3) })
	w := power.Window{Start: 5 * time.Microsecond, End: 999995 * time.Microsecond, Uncertainty: 5 * time.Microsecond}
	b.Run("integrate", func(b *testing.B) {
		for b.Loop() {
			if _, err := power.Integrate(s, w); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(len(s)), "ns/sample")
	})
	b.Run("baseline-sum", func(b *testing.B) {
		var sink power.Power
		for b.Loop() {
			var sum power.Power
			for i := range s {
				sum += s[i].Power()
			}
			sink = sum
		}
		_ = sink
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(len(s)), "ns/sample")
	})
}
