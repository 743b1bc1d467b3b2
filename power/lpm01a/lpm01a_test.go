package lpm01a_test

import (
	"context"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/tinyprof/tinyprof/power"
	"github.com/tinyprof/tinyprof/power/lpm01a"
	"github.com/tinyprof/tinyprof/power/powersim"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func readN(t *testing.T, m power.Meter, n int) []power.Sample {
	t.Helper()
	out := make([]power.Sample, 0, n)
	buf := make([]power.Sample, 1024)
	for len(out) < n {
		k, err := m.Read(t.Context(), buf[:min(len(buf), n-len(out))])
		require.NoError(t, err)
		out = append(out, buf[:k]...)
	}
	return out
}

func TestValueFormats(t *testing.T) {
	// Hand-computed from the PowerShield's help text: 6409-07 is
	// 6409 × 10⁻⁷ A = 640.9 µA; 52A0 is 0x2A0 × 16⁻⁵ = 672/1048576 A.
	v, err := lpm01a.ParseASCII("6409-07")
	require.NoError(t, err)
	assert.InDelta(t, 640.9e-6, v, 1e-15)
	assert.InDelta(t, 672.0/1048576, lpm01a.ParseBinary(0x52A0), 1e-15)
	for _, bad := range []string{"6409-7", "64a9-07", "6409*07", ""} {
		_, err := lpm01a.ParseASCII(bad)
		assert.Error(t, err, bad)
	}
	for _, amps := range []float64{640.9e-6, 1e-9, 0.0123, 0.2} {
		v, err := lpm01a.ParseASCII(lpm01a.FormatASCII(amps))
		require.NoError(t, err)
		assert.InEpsilon(t, amps, v, 1e-3)
		assert.InEpsilon(t, amps, lpm01a.ParseBinary(lpm01a.FormatBinary(amps)), 1e-3)
		assert.Less(t, lpm01a.FormatBinary(amps), uint16(0xF000), "never a metadata marker")
	}
}

func TestConfigurationSequence(t *testing.T) {
	sim := powersim.StartLPM01A(t, powersim.LPM01AOptions{})
	m, err := lpm01a.Open(t.Context(), sim.Path, lpm01a.Options{Supply: 1.8, Rate: 1000, Simulated: true})
	require.NoError(t, err)
	require.NoError(t, m.Start(t.Context()))
	readN(t, m, 10)
	require.NoError(t, m.Stop(t.Context()))
	require.NoError(t, m.Close())
	want := []string{"htc", "version", "powershield", "pwr off", "acqtime inf", "trigdelay 0", "trigsrc sw",
		"eventsrc d7 fal", "output current", "format ascii_dec", "freq 1k", "volt 1800m", "pwr on", "start", "stop", "hrc"}
	if diff := cmp.Diff(want, sim.Commands()); diff != "" {
		t.Errorf("commands (-want +got):\n%s", diff)
	}
	assert.Equal(t, "1.0.6", m.Info().Firmware)
	assert.True(t, m.Events())
}

// markWave pulses D7 (logic bit 0) for 2 ms at the start and at the end of
// each window and draws active in between: the MLPerf Tiny wiring, where
// the board toggles a timestamp pin.
func markWave(idle, active power.Current, windows ...[2]time.Duration) power.Waveform {
	const pulse = 2 * time.Millisecond
	return func(t time.Duration) power.Reading {
		r := power.Reading{Current: idle}
		for _, w := range windows {
			if t >= w[0] && t < w[1] {
				r.Current = active
			}
			if (t >= w[0] && t < w[0]+pulse) || (t >= w[1] && t < w[1]+pulse) {
				r.Logic = 1
			}
		}
		return r
	}
}

func TestEnergyFromEvents(t *testing.T) {
	// 1 kHz; a 300 ms generation at 20 mA from 3.0 V, starting at 1.2 s
	// so that a TimeStamp line falls before it. Markers on falling edges
	// come at 1.202 s and 1.502 s: 300 ms windows, like MLPerf's.
	wave := markWave(200*power.Microampere, 20*power.Milliampere, [2]time.Duration{1200 * time.Millisecond, 1500 * time.Millisecond})
	sim := powersim.StartLPM01A(t, powersim.LPM01AOptions{Waveform: wave})
	m, err := lpm01a.Open(t.Context(), sim.Path, lpm01a.Options{Supply: 3, Rate: 1000})
	require.NoError(t, err)
	t.Cleanup(func() { m.Close() })
	require.NoError(t, m.Start(t.Context()))
	s := readN(t, m, 1800)
	require.NoError(t, m.Stop(t.Context()))
	ws, err := power.MarkerWindows(s, time.Millisecond)
	require.NoError(t, err)
	require.Len(t, ws, 1)
	assert.Equal(t, 1202*time.Millisecond, ws[0].Start)
	assert.Equal(t, 1502*time.Millisecond, ws[0].End)
	r, err := power.Integrate(s, ws[0])
	require.NoError(t, err)
	// By hand: 298 ms at 20 mA and 2 ms at 200 µA, at 3 V, with one
	// trapezoid step of 1 ms straddling the drop: 17.88 mJ + 1.2 µJ,
	// ±one sample period's worth at each end.
	truth := 3 * (0.298*20e-3 + 0.002*200e-6)
	assert.InEpsilon(t, truth, float64(r.Energy), 0.01)
	assert.LessOrEqual(t, float64(r.EnergyMin), truth)
	assert.GreaterOrEqual(t, float64(r.EnergyMax), truth)
	idle, err := power.Idle(s, power.Window{Start: 100 * time.Millisecond, End: 1100 * time.Millisecond})
	require.NoError(t, err)
	assert.InEpsilon(t, 600e-6, float64(idle), 1e-3)
}

func TestBinaryFormat(t *testing.T) {
	sim := powersim.StartLPM01A(t, powersim.LPM01AOptions{Waveform: power.Constant(640.9 * power.Microampere)})
	m, err := lpm01a.Open(t.Context(), sim.Path, lpm01a.Options{Rate: 20000, Format: lpm01a.Binary})
	require.NoError(t, err)
	t.Cleanup(func() { m.Close() })
	require.NoError(t, m.Start(t.Context()))
	s := readN(t, m, 30000) // crosses a one-second metadata block
	require.NoError(t, m.Stop(t.Context()))
	for i, x := range s {
		require.InEpsilon(t, 640.9e-6, float64(x.Current), 1e-3, "sample %d", i)
		require.Equal(t, time.Duration(i)*50*time.Microsecond, x.Time)
	}
	assert.NotContains(t, sim.Commands(), "eventsrc d7 fal", "no events in bin_hexa")
}

func TestLostSamplesFromTimestamps(t *testing.T) {
	sim := powersim.StartLPM01A(t, powersim.LPM01AOptions{DropEvery: 250})
	m, err := lpm01a.Open(t.Context(), sim.Path, lpm01a.Options{Rate: 1000})
	require.NoError(t, err)
	t.Cleanup(func() { m.Close() })
	require.NoError(t, m.Start(t.Context()))
	s := readN(t, m, 2000)
	require.NoError(t, m.Stop(t.Context()))
	st := m.Stats()
	assert.GreaterOrEqual(t, st.Lost, int64(4), "4 lost in the first second, found at its TimeStamp")
	var gap *power.Sample
	for i := range s {
		if s[i].Gap {
			gap = &s[i]
			break
		}
	}
	require.NotNil(t, gap)
	assert.Equal(t, time.Second, gap.Time, "resynchronised on the TimeStamp")
}

func TestFaults(t *testing.T) {
	tests := []struct {
		name    string
		sim     powersim.LPM01AOptions
		opts    lpm01a.Options
		openErr error
		readErr error
	}{
		{"no answer", powersim.LPM01AOptions{Mute: true}, lpm01a.Options{}, power.ErrTimeout, nil},
		{"old firmware", powersim.LPM01AOptions{Version: "1.0.2"}, lpm01a.Options{}, power.ErrProtocol, nil},
		{"garbled version", powersim.LPM01AOptions{Version: "banana"}, lpm01a.Options{}, power.ErrProtocol, nil},
		{"refuses voltage", powersim.LPM01AOptions{Refuse: map[string]string{"volt": "value out of range"}}, lpm01a.Options{}, power.ErrRemote, nil},
		{"bad rate", powersim.LPM01AOptions{}, lpm01a.Options{Rate: 7}, power.ErrBadArgument, nil},
		{"stops streaming", powersim.LPM01AOptions{SilentAfter: 500}, lpm01a.Options{}, nil, power.ErrTimeout},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sim := powersim.StartLPM01A(t, tt.sim)
			ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
			defer cancel()
			tt.opts.Timeout = 300 * time.Millisecond
			m, err := lpm01a.Open(ctx, sim.Path, tt.opts)
			if tt.openErr != nil {
				require.ErrorIs(t, err, tt.openErr)
				t.Log(err)
				return
			}
			require.NoError(t, err)
			defer m.Close()
			require.NoError(t, m.Start(ctx))
			buf := make([]power.Sample, 1024)
			for {
				if _, err = m.Read(ctx, buf); err != nil {
					break
				}
			}
			require.ErrorIs(t, err, tt.readErr)
			require.NoError(t, ctx.Err())
			t.Log(err)
		})
	}
}

func TestEventsRefusedMeansNoEvents(t *testing.T) {
	sim := powersim.StartLPM01A(t, powersim.LPM01AOptions{Refuse: map[string]string{"eventsrc": "unknown command"}})
	m, err := lpm01a.Open(t.Context(), sim.Path, lpm01a.Options{})
	require.NoError(t, err)
	defer m.Close()
	assert.False(t, m.Events())
}

// TestCurrentError: each sample carries the PowerShield's stated 2%
// accuracy plus one unit of its output format's last digit.
func TestCurrentError(t *testing.T) {
	tests := []struct {
		format lpm01a.Format
		in     []byte
		amps   float64
		step   float64
	}{
		{lpm01a.ASCII, []byte("6409-07\r\n"), 640.9e-6, 1e-7},
		{lpm01a.ASCII, []byte("1234-05\r\n"), 12.34e-3, 1e-5},
		{lpm01a.Binary, []byte{0x52, 0xA0}, 0x2A0 / 1048576.0, 1 / 1048576.0},
	}
	for _, tt := range tests {
		s, err := lpm01a.NewDecoderForTest(tt.format, 1000).Feed(tt.in)
		require.NoError(t, err)
		require.Len(t, s, 1)
		assert.InDelta(t, tt.amps, float64(s[0].Current), 1e-15)
		assert.InDelta(t, lpm01a.Accuracy*tt.amps+tt.step, float64(s[0].CurrentError), 1e-15, "%v %q", tt.format, tt.in)
	}
}

func FuzzStream(f *testing.F) {
	f.Add([]byte("6409-07\r\nTimeStamp: 001s 000ms, buff 00%\r\nevent 01 fal\r\n6409-07 6410-07\r\n"))
	f.Add([]byte("\xf0abc\xff\xff\x52\xa0"))
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, format := range []lpm01a.Format{lpm01a.ASCII, lpm01a.Binary} {
			m := lpm01a.NewDecoderForTest(format, 1000)
			s, _ := m.Feed(b)
			for i := 1; i < len(s); i++ {
				if s[i].Time <= s[i-1].Time {
					t.Fatalf("%v: time not increasing at %d", format, i)
				}
			}
		}
	})
}
