package emu_test

import (
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
	"golang.org/x/sys/unix"

	"github.com/tinyprof/tinyprof/device"
	"github.com/tinyprof/tinyprof/device/emu"
	"github.com/tinyprof/tinyprof/firmware/conformance"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// openRaw opens the board's pty as a plain file, which the conformance
// suite reads with deadlines, and drops what the board sent before, as a
// serial client does.
func openRaw(t *testing.T, path string) *os.File {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR|unix.O_NOCTTY, 0)
	require.NoError(t, err)
	t.Cleanup(func() { f.Close() })
	// Not f.Fd(): it would take the file out of the poller, and the
	// suite's read deadlines with it.
	rc, err := f.SyscallConn()
	require.NoError(t, err)
	var ierr error
	require.NoError(t, rc.Control(func(fd uintptr) { ierr = unix.IoctlSetInt(int(fd), unix.TCFLSH, unix.TCIFLUSH) }))
	require.NoError(t, ierr)
	return f
}

// TestConformance runs the conformance suite against the C agent and the
// inference runtime on every emulated target, through the pty QEMU
// opened, uploading a real model.
func TestConformance(t *testing.T) {
	for _, m := range emu.Machines() {
		t.Run(m.Name, func(t *testing.T) {
			t.Parallel()
			b := emu.Start(t, emu.Options{Machine: m.Name})
			f := openRaw(t, b.Path)
			opts := conformance.Options{Model: readModel(t, testModel), ModelName: testModel, Timeout: 10 * time.Second}
			require.NoError(t, conformance.Test(t.Context(), f, opts))
		})
	}
}

// TestClock checks what the conformance suite cannot: that each target's
// clock advances with the instructions it executes, so a generation's
// decode time grows with its length, and that it stands still while the
// board sleeps, so an idle board's uptime barely moves.
func TestClock(t *testing.T) {
	for _, m := range emu.Machines() {
		t.Run(m.Name, func(t *testing.T) {
			t.Parallel()
			b, d := connectTo(t, m.Name, device.Options{})
			ctx := t.Context()
			// netduinoplus2 holds 64 positions: BOS and 63 tokens.
			short, err := d.Generate(ctx, device.GenerateRequest{MaxTokens: 8, Seed: 1})
			require.NoError(t, err)
			long, err := d.Generate(ctx, device.GenerateRequest{MaxTokens: 60, Seed: 1})
			require.NoError(t, err)
			assert.Positive(t, short.Summary.DecodeUS, "decode time of 8 tokens")
			assert.Greater(t, long.Summary.DecodeUS, 5*short.Summary.DecodeUS, "60 tokens against 8")

			m0, err := d.Metrics(ctx)
			require.NoError(t, err)
			time.Sleep(200 * time.Millisecond) // idle: QEMU's virtual time stands still
			m1, err := d.Metrics(ctx)
			require.NoError(t, err)
			assert.Less(t, m1.UptimeUS-m0.UptimeUS, uint64(1000), "%s: an idle board's uptime moved %d µs", b.Label(), m1.UptimeUS-m0.UptimeUS)
		})
	}
}
