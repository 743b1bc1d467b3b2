package bench_test

import (
	"bytes"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/tinyprof/tinyprof/bench"
	"github.com/tinyprof/tinyprof/device"
	"github.com/tinyprof/tinyprof/device/devicetest"
	"github.com/tinyprof/tinyprof/firmware"
)

// TestLedgerRefusesALyingBoard: a protocol-correct board that reports
// impossible figures gets an invalid run naming them, not a result. The
// Ledger is what both bench.Generate and the CLI's profile run through.
func TestLedgerRefusesALyingBoard(t *testing.T) {
	tests := []struct {
		name  string
		lie   func(m firmware.Message)
		field string
	}{
		{"3.7 GiB heap on a 512 KiB chip", func(m firmware.Message) {
			if d, ok := m.(*firmware.GenDone); ok {
				d.PeakHeap = 3_972_844_748
			}
		}, "gen_done.peak_heap"},
		{"71-minute first token", func(m firmware.Message) {
			if d, ok := m.(*firmware.GenDone); ok {
				d.TTFTUS = 71 * 60 * 1_000_000
			}
		}, "gen_done.ttft_us"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := devicetest.NewHonest()
			liar := func(r devicetest.Request) []devicetest.Send {
				out := h.Answer(r)
				for _, s := range out {
					tt.lie(s.Msg)
				}
				return out
			}
			host, boardEnd := devicetest.Pipe(devicetest.PipeOptions{})
			board := devicetest.NewBoard(boardEnd, liar, nil)
			t.Cleanup(func() { board.Close() })
			d := device.New(host, device.Options{Timeout: time.Second})
			t.Cleanup(func() { d.Close() })
			_, err := d.Hello(t.Context())
			require.NoError(t, err)
			model := bytes.Repeat([]byte("weights "), 100)
			_, err = d.LoadModel(t.Context(), bytes.NewReader(model), int64(len(model)), device.LoadOptions{})
			require.NoError(t, err)

			start, err := d.Metrics(t.Context())
			require.NoError(t, err)
			l := bench.NewLedger(d, start)
			_, err = l.Generate(t.Context(), device.GenerateRequest{MaxTokens: 8}, nil)
			require.ErrorIs(t, err, device.ErrImplausible)
			require.ErrorContains(t, err, tt.field)
		})
	}
}
