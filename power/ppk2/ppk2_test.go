package ppk2_test

import (
	"context"
	"encoding/binary"
	"math"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/tinyprof/tinyprof/power"
	"github.com/tinyprof/tinyprof/power/powersim"
	"github.com/tinyprof/tinyprof/power/ppk2"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func open(t *testing.T, sim *powersim.PPK2, opts ppk2.Options) *ppk2.Meter {
	t.Helper()
	opts.Simulated = true
	m, err := ppk2.Open(t.Context(), sim.Path, opts)
	require.NoError(t, err)
	t.Cleanup(func() { m.Close() })
	return m
}

// readN reads n samples or fails.
func readN(t *testing.T, m power.Meter, n int) []power.Sample {
	t.Helper()
	out := make([]power.Sample, 0, n)
	buf := make([]power.Sample, 4096)
	for len(out) < n {
		k, err := m.Read(t.Context(), buf[:min(len(buf), n-len(out))])
		require.NoError(t, err)
		out = append(out, buf[:k]...)
	}
	return out
}

func TestConfigurationSequence(t *testing.T) {
	tests := []struct {
		name string
		opts ppk2.Options
		want [][]byte
	}{
		{"source meter 1.8V, DUT on", ppk2.Options{Supply: 1800 * power.Millivolt, PowerDUT: true},
			[][]byte{{0x07}, {0x19}, {0x11, 0x02}, {0x0D, 0x07, 0x08}, {0x0C, 0x01}, {0x06}, {0x07}}},
		{"ampere meter", ppk2.Options{Mode: ppk2.AmpereMeter, Voltage: 3.3},
			[][]byte{{0x07}, {0x19}, {0x11, 0x01}, {0x06}, {0x07}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sim := powersim.StartPPK2(t, powersim.PPK2Options{})
			m := open(t, sim, tt.opts)
			require.NoError(t, m.Start(t.Context()))
			readN(t, m, 10)
			require.NoError(t, m.Stop(t.Context()))
			assert.Equal(t, tt.want, sim.Commands())
		})
	}
}

func TestSamplesMatchWaveform(t *testing.T) {
	// 1 ms idle at 50 µA, then 2 ms at 80 mA with D0 high, then idle.
	wave := power.Pulses(50*power.Microampere, 80*power.Milliampere, [2]time.Duration{time.Millisecond, 3 * time.Millisecond})
	sim := powersim.StartPPK2(t, powersim.PPK2Options{Waveform: wave})
	m := open(t, sim, ppk2.Options{Supply: 3 * power.Volt})
	require.NoError(t, m.Start(t.Context()))
	s := readN(t, m, 500)
	require.NoError(t, m.Stop(t.Context()))
	for i, x := range s {
		require.Equal(t, time.Duration(i)*10*time.Microsecond, x.Time)
		want := wave(x.Time)
		// Quantisation: one ADC step is 4·1.8/163840/R of the range, under
		// 0.1% of these currents.
		assert.InEpsilon(t, float64(want.Current), float64(x.Current), 1e-3, "sample %d", i)
		assert.Equal(t, want.Logic, x.Logic, "sample %d", i)
		assert.True(t, x.HasLogic)
		assert.Equal(t, 3*power.Volt, x.Voltage)
	}
	ws, err := power.LogicWindows(s, 0)
	require.NoError(t, err)
	require.Len(t, ws, 1)
	r, err := power.Integrate(s, ws[0])
	require.NoError(t, err)
	// Hand computation: 80 mA × 3 V × 2 ms = 480 µJ. The trapezoid over
	// a step edge seen every 10 µs is off by at most the edge
	// uncertainty's worth (2 × 5 µs of 2 ms), and the bounds must hold
	// the truth, the ADC's quantisation included.
	const truth = 480e-6
	assert.InEpsilon(t, truth, float64(r.Energy), 5e-3)
	assert.LessOrEqual(t, float64(r.EnergyMin), truth)
	assert.GreaterOrEqual(t, float64(r.EnergyMax), truth)
	assert.Equal(t, 200, r.Samples)
}

// TestBoundsHoldQuantisedCurrent: a current that falls between two ADC
// codes is read as one of them, and the energy bounds must still hold the
// energy truly drawn, with no margin.
func TestBoundsHoldQuantisedCurrent(t *testing.T) {
	const amps, volts = 12.34567e-3, 3.0
	sim := powersim.StartPPK2(t, powersim.PPK2Options{Waveform: power.Constant(amps)})
	m := open(t, sim, ppk2.Options{Supply: volts})
	require.NoError(t, m.Start(t.Context()))
	s := readN(t, m, 1001)
	require.NoError(t, m.Stop(t.Context()))
	r, err := power.Integrate(s, power.Window{Start: 0, End: 10 * time.Millisecond})
	require.NoError(t, err)
	truth := amps * volts * 0.01
	require.NotEqual(t, truth, float64(r.Energy), "the current must not lie on an ADC code")
	assert.LessOrEqual(t, float64(r.EnergyMin), truth, "%v", r)
	assert.GreaterOrEqual(t, float64(r.EnergyMax), truth, "%v", r)
	for i, x := range s {
		require.Positive(t, float64(x.CurrentError), "sample %d", i)
		require.LessOrEqual(t, math.Abs(float64(x.Current)-amps), float64(x.CurrentError), "sample %d", i)
	}
}

func TestLostSamplesDetected(t *testing.T) {
	sim := powersim.StartPPK2(t, powersim.PPK2Options{DropEvery: 100})
	m := open(t, sim, ppk2.Options{})
	require.NoError(t, m.Start(t.Context()))
	s := readN(t, m, 990)
	require.NoError(t, m.Stop(t.Context()))
	// Stats count what was decoded, which may run ahead of what was read.
	st := m.Stats()
	assert.GreaterOrEqual(t, st.Samples, int64(990))
	assert.GreaterOrEqual(t, st.Lost, int64(9))
	assert.Equal(t, st.Lost, st.Gaps, "one sample lost per gap")
	gaps := 0
	for i, x := range s {
		if x.Gap {
			gaps++
			assert.Equal(t, 20*time.Microsecond, x.Time-s[i-1].Time, "a gap spans the lost sample")
		}
	}
	assert.Equal(t, 9, gaps)
	assert.Equal(t, time.Duration(998)*10*time.Microsecond, s[len(s)-1].Time, "times count the lost samples")
}

func TestFaults(t *testing.T) {
	tests := []struct {
		name    string
		sim     powersim.PPK2Options
		openErr error
		readErr error
	}{
		{"no answer", powersim.PPK2Options{Mute: true}, power.ErrTimeout, nil},
		{"another protocol", powersim.PPK2Options{Metadata: "PowerShield > ack htc\r\nEND\n"}, power.ErrProtocol, nil},
		{"calibration unparseable", powersim.PPK2Options{Metadata: "R0: 1003.3506\nR1: one hundred\nVDD: 3300\nHW: 1\nEND\n"}, power.ErrCalibration, nil},
		{"shunt zero", powersim.PPK2Options{Metadata: "R2: 0\nVDD: 3300\nHW: 1\nEND\n"}, power.ErrCalibration, nil},
		{"stops streaming", powersim.PPK2Options{SilentAfter: 1000}, nil, power.ErrTimeout},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sim := powersim.StartPPK2(t, tt.sim)
			ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
			defer cancel()
			m, err := ppk2.Open(ctx, sim.Path, ppk2.Options{Timeout: 300 * time.Millisecond})
			if tt.openErr != nil {
				require.ErrorIs(t, err, tt.openErr)
				t.Log(err)
				return
			}
			require.NoError(t, err)
			defer m.Close()
			require.NoError(t, m.Start(ctx))
			buf := make([]power.Sample, 4096)
			for {
				_, err = m.Read(ctx, buf)
				if err != nil {
					break
				}
			}
			require.ErrorIs(t, err, tt.readErr)
			require.NoError(t, ctx.Err(), "the error came from the driver's time-out, not the test's")
			t.Log(err)
		})
	}
}

// TestDecodeHandComputed checks the conversion against ppk2-rs's test
// vector (src/measurement.rs, computed by Nordic's JS): range 0, ADC value
// 108 with the fixture's calibration is 0.021454880761611544 µA, to
// ppk2-rs's own tolerance (f32 epsilon in µA, 1.2e-13 A).
func TestDecodeHandComputed(t *testing.T) {
	cal, err := ppk2.ParseCalibration([]byte(powersim.DefaultPPK2Metadata))
	require.NoError(t, err)
	assert.InDelta(t, 0.021454880761611544e-6, cal.Amperes(0, 108), 1.2e-13)

	// One word: ADC field 27 (×4 = 108), range 0, counter 5, logic 0xA5,
	// split across two Feed calls.
	word := uint32(27) | 0<<14 | 5<<18 | 0xA5<<24
	b := binary.LittleEndian.AppendUint32(nil, word)
	d := ppk2.NewDecoder(cal, 3.3, false)
	got := d.Feed(nil, b[:3])
	require.Empty(t, got)
	got = d.Feed(got, b[3:])
	require.Len(t, got, 1)
	assert.InDelta(t, 0.021454880761611544e-6, float64(got[0].Current), 1.2e-13)
	assert.Equal(t, uint8(0xA5), got[0].Logic)

	// Range 3 by hand: x = (4000 − 50.4983)·(1.8/163840)/0.9636;
	// I = x·(2.4217·x + 0.9519) + 0.000062577·3.741 − 0.000374119.
	x := (4000 - 50.4983) * (1.8 / 163840) / 0.9636
	want := x*(2.4217*x+0.9519) + 0.000062577*3.741 - 0.000374119
	assert.InDelta(t, want, cal.Amperes(3, 4000), 1e-12)
	assert.False(t, math.IsNaN(want))
}

func FuzzDecoder(f *testing.F) {
	f.Add([]byte{1, 2, 3, 4, 5, 6, 7})
	f.Add(binary.LittleEndian.AppendUint32(nil, 0xFFFFFFFF))
	cal, _ := ppk2.ParseCalibration([]byte(powersim.DefaultPPK2Metadata))
	f.Fuzz(func(t *testing.T, b []byte) {
		d := ppk2.NewDecoder(cal, 3.3, true)
		s := d.Feed(nil, b)
		if len(s) != len(b)/4 {
			t.Fatalf("%d samples from %d bytes", len(s), len(b))
		}
		for i := 1; i < len(s); i++ {
			if s[i].Time <= s[i-1].Time {
				t.Fatalf("time not increasing at %d", i)
			}
		}
	})
}

func FuzzParseCalibration(f *testing.F) {
	f.Add([]byte(powersim.DefaultPPK2Metadata))
	f.Add([]byte("R9: 1\nEND"))
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := ppk2.ParseCalibration(b)
		if err == nil {
			for r := range 5 {
				if !(c.R[r] > 0) {
					t.Fatalf("accepted R%d = %v", r, c.R[r])
				}
			}
		}
	})
}

// BenchmarkDecoder decodes 4 KiB buffers of sample words; a PPK2 sends
// 400 kB/s, so the decoder must run well above that.
func BenchmarkDecoder(b *testing.B) {
	cal, err := ppk2.ParseCalibration([]byte(powersim.DefaultPPK2Metadata))
	if err != nil {
		b.Fatal(err)
	}
	var buf []byte
	for i := range 1024 {
		buf = binary.LittleEndian.AppendUint32(buf, powersim.EncodePPK2(&cal, 0.01+float64(i%7)*1e-3, uint8(i), 0))
	}
	d := ppk2.NewDecoder(cal, 3.3, false)
	dst := make([]power.Sample, 0, 1024)
	b.SetBytes(int64(len(buf)))
	for b.Loop() {
		dst = d.Feed(dst[:0], buf)
	}
}
