package eembc_test

import (
	"bytes"
	"io"
	"testing"

	"github.com/tinyprof/tinyprof/device/eembc"
)

// replay is a DUT that answers any command with fixed bytes, then EOF.
type replay struct{ r io.Reader }

func (r replay) Read(p []byte) (int, error) { return r.r.Read(p) }
func (replay) Write(p []byte) (int, error)  { return len(p), nil }

// FuzzReplies feeds arbitrary DUT output to every parser: none may panic
// or hang.
func FuzzReplies(f *testing.F) {
	f.Add([]byte("m-warmup-start-1\r\nm-lap-us-5\r\nm-lap-us-9\r\nm-infer-done\r\nm-results-[1,2]\r\nm-ready\r\n"))
	f.Add([]byte("m-name-dut-[x]\r\nm-profile-[y]\r\nm-model-[kws01]\r\nm-[Expecting 3 bytes]\r\nm-load-done\r\nm-ready\r\n"))
	f.Add([]byte("e-[Unknown command: x]\r\nm-lap-us-99999999999999999999999\r\nm-results-[,]\r\n\x00m-ready"))
	f.Fuzz(func(t *testing.T, data []byte) {
		ctx := t.Context()
		for i := range 6 {
			c := eembc.New(replay{bytes.NewReader(data)}, eembc.Options{})
			switch i {
			case 0:
				_, _ = c.Name(ctx)
			case 1:
				_, _ = c.Profile(ctx)
			case 2:
				_ = c.Load(ctx, []byte{1, 2, 3})
			case 3:
				_, _ = c.Infer(ctx, 1, 0)
			case 4:
				_, _ = c.Results(ctx)
			case 5:
				_, _ = c.Command(ctx, "x")
			}
			_ = c.Close()
		}
	})
}
