package agent

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tinyprof/tinyprof/device"
	"github.com/tinyprof/tinyprof/device/eembc"
)

// TestAgentIgnoresTheEEMBCProbe: the name% that eembc.Detect sends a board
// it cannot yet tell from an MLPerf Tiny DUT does the C agent no harm: it
// takes the text for a bad block (answered with ERROR(BAD_FRAME) once the
// next frame's delimiter ends it), and the host's HELLO, resent at once,
// opens the session as ever.
func TestAgentIgnoresTheEEMBCProbe(t *testing.T) {
	p := start(t, buildHost(t))
	// Its boot INFO first, which a host that opens a booted board misses.
	boot, err := eembc.Detect(t.Context(), p.Master, eembc.DetectOptions{Listen: 5 * time.Second, Probe: time.Millisecond})
	require.NoError(t, err)
	require.Equal(t, eembc.Detection{Protocol: eembc.Tinyprof, Evidence: "a tinyprof INFO frame"}, boot)
	got, err := eembc.Detect(t.Context(), p.Master, eembc.DetectOptions{Listen: 100 * time.Millisecond, Probe: 300 * time.Millisecond})
	require.NoError(t, err)
	assert.Equal(t, eembc.Detection{Protocol: eembc.Undecided, Probed: true}, got, "a booted agent stays silent at name%")

	d := device.New(p.Master, device.Options{Timeout: 2 * time.Second})
	t.Cleanup(func() { d.Close() })
	info, err := d.Hello(t.Context())
	require.NoError(t, err)
	assert.NotEmpty(t, info.Firmware)
	_, err = d.Ping(t.Context(), []byte("after name%"))
	require.NoError(t, err)
	assert.True(t, p.alive())
}
