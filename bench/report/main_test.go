package report_test

import (
	"testing"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/tinyprof/tinyprof/device"
	"github.com/tinyprof/tinyprof/device/sim"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// pipeBoard is a simulated board on an in-memory transport.
func pipeBoard(tb testing.TB, opts sim.Options) *device.Device {
	tb.Helper()
	tr, b, err := sim.Pipe(opts)
	require.NoError(tb, err)
	dev := device.New(tr, device.Options{})
	tb.Cleanup(func() { dev.Close(); b.Close() })
	_, err = dev.Hello(tb.Context())
	require.NoError(tb, err)
	return dev
}

// ptyBoard is a simulated board behind a pseudo-terminal, opened through
// the real serial client.
func ptyBoard(tb testing.TB, opts sim.Options) *device.Device {
	tb.Helper()
	b := sim.Start(tb, opts)
	dev, err := device.Open(tb.Context(), b.Path, device.Options{})
	require.NoError(tb, err)
	tb.Cleanup(func() { dev.Close() })
	return dev
}
