package device_test

import (
	"bytes"
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tinyprof/tinyprof/device"
	"github.com/tinyprof/tinyprof/device/devicetest"
	"github.com/tinyprof/tinyprof/firmware"
)

// scripted opens a Device on an honest scripted board behind wrap, and
// says hello. The board's model, if load, is uploaded before wrap's
// faults apply, so that a test damages only what it means to.
func scripted(t *testing.T, h *devicetest.Honest, popts devicetest.PipeOptions, dopts device.Options, wrap func(device.Transport) device.Transport) *device.Device {
	t.Helper()
	host := devicetest.Start(t, h.Answer, popts)
	var tr device.Transport = host
	if wrap != nil {
		tr = wrap(tr)
	}
	d := device.New(tr, dopts)
	t.Cleanup(func() { d.Close() })
	_, err := d.Hello(t.Context())
	require.NoError(t, err)
	return d
}

var smallModel = bytes.Repeat([]byte("tinyprof model bytes "), 500)

// TestLostClosingDelimiter: a frame whose closing 0x00 is lost stays in
// the peer's decoder until the next delimiter. Nothing follows the
// GENERATE (the board waits for it) or the GEN_DONE (the host waits for
// more), so each used to cost a whole timeout: 60 s of prefill wait for
// the GENERATE, whatever the request Timeout, and a failed run for the
// GEN_DONE. Both recover within the request Timeout now; PrefillTimeout is
// an hour, so only a recovery within the context passes.
func TestLostClosingDelimiter(t *testing.T) {
	tests := []struct {
		name string
		dir  devicetest.Direction
		typ  firmware.Type
		rto  time.Duration // the line's read timeout; 0: none, as on a pipe
	}{
		{"GENERATE", devicetest.ToBoard, firmware.TypeGenerate, 0},
		{"GEN_DONE on a line without read timeouts", devicetest.ToHost, firmware.TypeGenDone, 0},
		{"GEN_DONE on a line with read timeouts", devicetest.ToHost, firmware.TypeGenDone, 20 * time.Millisecond},
		{"PONG", devicetest.ToHost, firmware.TypePong, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := devicetest.NewHonest()
			d := scripted(t, h, devicetest.PipeOptions{ReadTimeout: tt.rto},
				device.Options{Timeout: 200 * time.Millisecond, PrefillTimeout: time.Hour},
				func(tr device.Transport) device.Transport {
					return devicetest.Drop(tr, tt.dir, devicetest.FrameEnd(tt.typ, 1))
				})
			ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
			defer cancel()
			_, err := d.LoadModel(ctx, bytes.NewReader(smallModel), int64(len(smallModel)), device.LoadOptions{})
			require.NoError(t, err)
			if tt.typ == firmware.TypePong {
				_, err := d.Ping(ctx, []byte("x"))
				require.NoError(t, err)
				return
			}
			g, err := d.Generate(ctx, device.GenerateRequest{MaxTokens: 20, Seed: 1})
			require.NoError(t, err, "recovered within the context, not after PrefillTimeout")
			assert.Len(t, g.Tokens, 20)
			again, err := d.Generate(ctx, device.GenerateRequest{MaxTokens: 20, Seed: 1})
			require.NoError(t, err, "the next generation finds the line in order")
			for i := range g.Tokens {
				assert.Equal(t, g.Tokens[i].ID, again.Tokens[i].ID, "deterministic for a seed")
			}
		})
	}
}

// TestLostGenerate: a GENERATE lost whole (the board never saw it) is
// sent again once the board is seen answering but not generating, within
// a few request timeouts rather than PrefillTimeout.
func TestLostGenerate(t *testing.T) {
	h := devicetest.NewHonest()
	lost := 0
	script := func(r devicetest.Request) []devicetest.Send {
		if _, ok := r.Msg.(*firmware.Generate); ok && lost == 0 {
			lost++
			return nil
		}
		return h.Answer(r)
	}
	host := devicetest.Start(t, script, devicetest.PipeOptions{})
	d := device.New(host, device.Options{Timeout: 200 * time.Millisecond, PrefillTimeout: time.Hour})
	defer d.Close()
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	_, err := d.Hello(ctx)
	require.NoError(t, err)
	_, err = d.LoadModel(ctx, bytes.NewReader(smallModel), int64(len(smallModel)), device.LoadOptions{})
	require.NoError(t, err)
	g, err := d.Generate(ctx, device.GenerateRequest{MaxTokens: 20, Seed: 1})
	require.NoError(t, err)
	assert.Len(t, g.Tokens, 20)
	assert.Equal(t, 1, lost)
}

// TestDiagnosisUnderCorruption: a board that has spoken the protocol and
// whose answers now arrive corrupted is a corrupting line, not a board
// without the agent; a peer that never sent a valid frame is.
func TestDiagnosisUnderCorruption(t *testing.T) {
	t.Run("corrupted answers after a good session", func(t *testing.T) {
		h := devicetest.NewHonest()
		var flip device.Transport
		on := false
		d := scripted(t, h, devicetest.PipeOptions{}, device.Options{Timeout: 100 * time.Millisecond},
			func(tr device.Transport) device.Transport {
				flip = devicetest.Flip(tr, devicetest.ToHost, func(b devicetest.Byte) bool { return on && b.Value != 0 && b.Pos%7 == 0 }, 0x20)
				return flip
			})
		for range 3 {
			_, err := d.Ping(t.Context(), []byte("fine"))
			require.NoError(t, err)
		}
		on = true
		_, err := d.Ping(t.Context(), bytes.Repeat([]byte("x"), 200))
		require.Error(t, err)
		assert.NotErrorIs(t, err, device.ErrNoProtocol, "the board spoke the protocol: %v", err)
		require.ErrorIs(t, err, device.ErrCRC)
		assert.Contains(t, err.Error(), "valid frames")
	})
	t.Run("noise from the start", func(t *testing.T) {
		noise := func(r devicetest.Request) []devicetest.Send {
			return []devicetest.Send{{Raw: append(bytes.Repeat([]byte{0x5a, 0xc3, 0x00, 0x17}, 40), 0)}}
		}
		host := devicetest.Start(t, noise, devicetest.PipeOptions{})
		d := device.New(host, device.Options{Timeout: 100 * time.Millisecond})
		defer d.Close()
		_, err := d.Hello(t.Context())
		require.ErrorIs(t, err, device.ErrNoProtocol)
	})
}

// TestUploadThroughByteLoss: with 0.1% of the bytes toward the board
// lost, most 1,020-byte chunks arrive damaged; the upload adapts its
// chunk size and window to the losses it sees and finishes.
func TestUploadThroughByteLoss(t *testing.T) {
	for _, tt := range []struct {
		rate float64
		size int
	}{{0.001, 1 << 20}, {0.005, 64 << 10}} {
		rate, model := tt.rate, bytes.Repeat([]byte("0123456789abcdef"), tt.size/16)
		t.Run(fmt.Sprintf("%.1f%% lost, %d KiB", rate*100, tt.size>>10), func(t *testing.T) {
			h := devicetest.NewHonest()
			h.Info.PSRAM = 8 << 20
			d := scripted(t, h, devicetest.PipeOptions{}, device.Options{Timeout: 100 * time.Millisecond},
				func(tr device.Transport) device.Transport {
					return devicetest.Drop(tr, devicetest.ToBoard, devicetest.Rate(rate, 7))
				})
			ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
			defer cancel()
			res, err := d.LoadModel(ctx, bytes.NewReader(model), int64(len(model)), device.LoadOptions{})
			require.NoError(t, err)
			assert.Equal(t, int64(len(model)), res.Size)
			t.Logf("%d rewinds", res.Rewinds)
		})
	}
}
