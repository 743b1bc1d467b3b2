package eembc_test

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tinyprof/tinyprof/device"
	"github.com/tinyprof/tinyprof/device/eembc"
	"github.com/tinyprof/tinyprof/device/eembc/eembcsim"
	"github.com/tinyprof/tinyprof/device/sim"
	"github.com/tinyprof/tinyprof/firmware"
	"github.com/tinyprof/tinyprof/serialport"
)

// openDUT starts a simulated DUT and opens its pty as a real board's port.
func openDUT(t *testing.T, o eembcsim.Options) (*eembcsim.DUT, *serialport.Port) {
	t.Helper()
	d := eembcsim.Start(t, o)
	port, err := serialport.Open(t.Context(), d.Path, 115200)
	require.NoError(t, err)
	t.Cleanup(func() { port.Close() })
	return d, port
}

func TestDetectEEMBC(t *testing.T) {
	for _, booted := range []bool{false, true} {
		t.Run(map[bool]string{false: "boot lines", true: "booted before the port was opened"}[booted], func(t *testing.T) {
			// Boot lines printed before the port opened are lost, as on a
			// board that booted long before; a reset after opening is seen.
			d, port := openDUT(t, eembcsim.Options{Vendor: "detect"})
			if !booted {
				d.Reset()
			}
			got, err := eembc.Detect(t.Context(), port, eembc.DetectOptions{Listen: time.Second, Probe: 5 * time.Second})
			require.NoError(t, err)
			assert.Equal(t, eembc.EEMBC, got.Protocol)
			assert.Equal(t, booted, got.Probed, "the probe is sent only when listening settled nothing")
			if booted {
				assert.Equal(t, "m-name-dut-[detect]", got.Evidence)
			} else {
				assert.Equal(t, "m-timestamp-mode-performance", got.Evidence)
			}

			// The DUT's command buffer is clean: its next command works.
			c := eembc.New(port, eembc.Options{Timeout: 5 * time.Second})
			defer c.Close()
			name, err := c.Name(t.Context())
			require.NoError(t, err)
			assert.Equal(t, "detect", name)
			assert.False(t, d.Crashed())
		})
	}
}

// TestTinyprofFramesCrashTheDUT is the failure Detect exists to prevent:
// a tinyprof HELLO in the DUT's command buffer crashes it on its next
// command, as it does the reference firmware.
func TestTinyprofFramesCrashTheDUT(t *testing.T) {
	d, port := openDUT(t, eembcsim.Options{})
	hello := firmware.Encode(1, &firmware.Hello{ProtocolVersion: firmware.ProtocolVersion, MaxPayload: 1024})
	_, err := port.Write(hello)
	require.NoError(t, err)

	c := eembc.New(port, eembc.Options{Timeout: 300 * time.Millisecond})
	defer c.Close()
	_, err = c.Name(t.Context())
	require.ErrorIs(t, err, eembc.ErrNoReady)
	assert.True(t, d.Crashed())
}

func TestDetectTinyprof(t *testing.T) {
	for _, booted := range []bool{false, true} {
		t.Run(map[bool]string{false: "boot INFO", true: "booted before the port was opened"}[booted], func(t *testing.T) {
			tr, b, err := sim.Pipe(sim.Options{})
			require.NoError(t, err)
			t.Cleanup(func() { tr.Close(); b.Close() })
			if booted {
				readFrame(t, tr.(net.Conn)) // the boot INFO, gone before anyone listened
			}
			got, err := eembc.Detect(t.Context(), tr, eembc.DetectOptions{Listen: time.Second, Probe: 100 * time.Millisecond})
			require.NoError(t, err)
			if booted {
				assert.Equal(t, eembc.Detection{Protocol: eembc.Undecided, Probed: true}, got)
			} else {
				assert.Equal(t, eembc.Detection{Protocol: eembc.Tinyprof, Evidence: "a tinyprof INFO frame"}, got)
			}

			// name% did the agent no harm: it says Hello as ever.
			dev := device.New(tr, device.Options{Timeout: 2 * time.Second})
			defer dev.Close()
			info, err := dev.Hello(t.Context())
			require.NoError(t, err)
			assert.Equal(t, "esp32s3", info.Platform)
		})
	}
}

// readFrame reads from c until one frame has arrived.
func readFrame(t *testing.T, c net.Conn) {
	t.Helper()
	dec := firmware.NewDecoder(firmware.MaxPayloadLimit)
	buf := make([]byte, 256)
	got := false
	require.NoError(t, c.SetReadDeadline(time.Now().Add(5*time.Second)))
	defer c.SetReadDeadline(time.Time{})
	for !got {
		n, err := c.Read(buf)
		dec.Feed(buf[:n], func(e firmware.Event) { got = got || e.Kind == firmware.EventFrame })
		require.NoError(t, err)
	}
}

func TestDetectHonoursContext(t *testing.T) {
	host, board := net.Pipe()
	t.Cleanup(func() { host.Close(); board.Close() })
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	_, err := eembc.Detect(ctx, host, eembc.DetectOptions{Listen: time.Hour})
	require.ErrorIs(t, err, context.Canceled)
}
