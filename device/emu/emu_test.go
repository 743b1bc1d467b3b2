package emu_test

import (
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/tinyprof/tinyprof/device/emu"
	"github.com/tinyprof/tinyprof/firmware/conformance"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestConformance runs the conformance suite against the C agent on every
// emulated target, through the pty QEMU opened.
func TestConformance(t *testing.T) {
	for _, m := range emu.Machines() {
		t.Run(m.Name, func(t *testing.T) {
			t.Parallel()
			b := emu.Start(t, emu.Options{Machine: m.Name})
			f, err := os.OpenFile(b.Path, os.O_RDWR, 0)
			require.NoError(t, err)
			defer f.Close()
			require.NoError(t, conformance.Test(t.Context(), f, conformance.Options{Timeout: 10 * time.Second}))
		})
	}
}
