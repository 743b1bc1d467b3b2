package device_test

import (
	"bytes"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tinyprof/tinyprof/device"
	"github.com/tinyprof/tinyprof/device/devicetest"
	"github.com/tinyprof/tinyprof/device/sim"
	"github.com/tinyprof/tinyprof/firmware"
)

// TestLyingBoardIsCaught: a board that speaks the protocol correctly but
// reports impossible figures gets a result that Problems marks invalid,
// naming the figure; an honest board gets none.
func TestLyingBoardIsCaught(t *testing.T) {
	tests := []struct {
		name  string
		lie   func(m firmware.Message) // rewrites what the honest board sends
		field string                   // "" for an honest board
	}{
		{"honest", func(firmware.Message) {}, ""},
		{"clock goes back", func(m firmware.Message) {
			if b, ok := m.(*firmware.Tokens); ok && b.Index == 16 {
				for i := range b.Tokens {
					b.Tokens[i].TimeUS -= 500_000
				}
			}
		}, "tokens[16].time_us"},
		{"31 M tok/s", func(m firmware.Message) {
			if d, ok := m.(*firmware.GenDone); ok {
				d.DecodeUS = 1
			}
		}, "gen_done.decode_us"},
		{"0 tok/s", func(m firmware.Message) {
			if d, ok := m.(*firmware.GenDone); ok {
				d.DecodeUS = 0
			}
		}, "gen_done.decode_us"},
		{"TTFT of 71 minutes", func(m firmware.Message) {
			if d, ok := m.(*firmware.GenDone); ok {
				d.TTFTUS = 4_260_000_000
			}
		}, "gen_done.ttft_us"},
		{"3.7 GiB heap on a 512 KiB chip", func(m firmware.Message) {
			if d, ok := m.(*firmware.GenDone); ok {
				d.PeakHeap = 3_972_844_748
			}
		}, "gen_done.peak_heap"},
		{"decode time spans a token that never came", func(m firmware.Message) {
			if b, ok := m.(*firmware.Tokens); ok && b.Index == 16 {
				b.Tokens = b.Tokens[:len(b.Tokens)-1]
			}
			if d, ok := m.(*firmware.GenDone); ok {
				d.Tokens--
			}
		}, "gen_done.decode_us"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := devicetest.NewHonest()
			liar := func(r devicetest.Request) []devicetest.Send {
				out := h.Answer(r)
				for _, s := range out {
					if s.Msg != nil {
						tt.lie(s.Msg)
					}
				}
				return out
			}
			host := devicetest.Start(t, liar, devicetest.PipeOptions{})
			d := device.New(host, device.Options{})
			defer d.Close()
			_, err := d.Hello(t.Context())
			require.NoError(t, err)
			_, err = d.LoadModel(t.Context(), bytes.NewReader(smallModel), int64(len(smallModel)), device.LoadOptions{})
			require.NoError(t, err)
			g, err := d.Generate(t.Context(), device.GenerateRequest{MaxTokens: 32})
			require.NoError(t, err, "the lie is protocol-correct: the client accepts it")
			ps := g.Problems(d.Info(), device.Envelope{})
			if tt.field == "" {
				assert.Empty(t, ps)
				require.NoError(t, device.Invalid("generate", ps))
				return
			}
			require.NotEmpty(t, ps, "the lie is caught")
			var fields []string
			for _, p := range ps {
				fields = append(fields, p.Field)
				assert.NotEmpty(t, p.Reason)
			}
			assert.Contains(t, fields, tt.field)
			err = device.Invalid("generate", ps)
			require.ErrorIs(t, err, device.ErrImplausible)
			var p device.Problem
			require.ErrorAs(t, err, &p)
			assert.Contains(t, err.Error(), "run is invalid")
		})
	}
}

func TestMetricsProblems(t *testing.T) {
	info := &firmware.Info{SRAM: 512 << 10, PSRAM: 8 << 20, Capabilities: firmware.CapPower}
	good := firmware.Metrics{UptimeUS: 1, FreeHeap: 200 << 10, MinFreeHeap: 100 << 10, LargestFree: 90 << 10,
		PSRAMFree: 4 << 20, PSRAMMinFree: 3 << 20, HasPower: true, PowerUW: 330_000, VoltageMV: 3300, CurrentUA: 100_000}
	tests := []struct {
		name   string
		change func(*firmware.Metrics, *firmware.Info)
		want   []string
	}{
		{"honest", func(*firmware.Metrics, *firmware.Info) {}, nil},
		{"4 kW", func(m *firmware.Metrics, _ *firmware.Info) { m.PowerUW, m.CurrentUA = 4_000_000_000, 1_200_000_000 }, []string{"power_uw"}},
		{"power from a board that measures none", func(_ *firmware.Metrics, i *firmware.Info) { i.Capabilities = 0 }, []string{"power_uw"}},
		{"power is not V × I", func(m *firmware.Metrics, _ *firmware.Info) { m.CurrentUA = 10 }, []string{"power_uw"}},
		{"more heap free than SRAM", func(m *firmware.Metrics, _ *firmware.Info) {
			m.FreeHeap, m.LargestFree, m.MinFreeHeap = 3_900_000_000, 1, 1
		}, []string{"free_heap"}},
		{"minimum above now", func(m *firmware.Metrics, _ *firmware.Info) { m.MinFreeHeap = m.FreeHeap + 1 }, []string{"min_free_heap"}},
		{"PSRAM on a board without", func(_ *firmware.Metrics, i *firmware.Info) { i.PSRAM = 0 }, []string{"psram_free"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, i := good, *info
			tt.change(&m, &i)
			var got []string
			for _, p := range device.MetricsProblems(m, &i, device.Envelope{}) {
				got = append(got, p.Field)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("problems (-want +got):\n%s", diff)
			}
		})
	}
}

// TestSimulatedBoardIsPlausible: the simulator's figures pass, with
// memory read during the generation: no false alarms on an honest board.
func TestSimulatedBoardIsPlausible(t *testing.T) {
	d, _ := open(t, sim.Options{Platform: "esp32s3", TimeScale: 0.05}, device.Options{})
	_, err := d.LoadModel(t.Context(), bytes.NewReader(tiny), int64(len(tiny)), device.LoadOptions{})
	require.NoError(t, err)
	g, err := d.Generate(t.Context(), device.GenerateRequest{Prompt: "Once upon a time", MaxTokens: 48, SampleEvery: 1})
	require.NoError(t, err)
	m, err := d.Metrics(t.Context())
	require.NoError(t, err)
	ps := append(g.Problems(d.Info(), device.Envelope{}), device.MetricsProblems(*m, d.Info(), device.Envelope{})...)
	var lines []string
	for _, p := range ps {
		lines = append(lines, p.Error())
	}
	assert.Empty(t, ps, strings.Join(lines, "\n"))
}
