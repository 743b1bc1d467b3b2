//go:build !hardware

package hwtest

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tinyprof/tinyprof/device"
	"github.com/tinyprof/tinyprof/fixtures"
	"github.com/tinyprof/tinyprof/lab"
	"github.com/tinyprof/tinyprof/model"
)

// tinyModel is a llama2.c model small enough to upload over the emulated
// UART (about 9 KB/s) in a fraction of a second.
var tinyModel = fixtures.Llama2CConfig{
	Llama2CConfig: model.Llama2CConfig{Dim: 16, HiddenDim: 32, Layers: 1, Heads: 2, KVHeads: 1, Vocab: 32, SeqLen: 32, Shared: true},
}

// An emulated machine is leased like any board: health-checked, labelled,
// and its QEMU stopped when the lease ends.
func TestLeaseEmulated(t *testing.T) {
	lab.NeedEmulation(t)
	l, err := NewLab(Config{LeaseDir: t.TempDir()})
	require.NoError(t, err)
	ft := newFakeTB(t, "TestLeaseEmulated")
	var b *Board
	ft.run(func(tb testing.TB) {
		b = l.Lease(tb, Platform("mps2-an386"))
		m := fixtures.Llama2C(tinyModel, fixtures.Seed)
		_, err := b.LoadModel(tb.Context(), bytes.NewReader(m), int64(len(m)), device.LoadOptions{})
		require.NoError(t, err)
		g, err := b.Generate(tb.Context(), device.GenerateRequest{MaxTokens: 4})
		require.NoError(t, err)
		assert.Len(t, g.Tokens, 4)
	})
	require.False(t, ft.failed, ft.msg)
	require.NotNil(t, b.Emu())
	assert.True(t, strings.HasPrefix(b.Entry.ID, "emu-mps2-an386-"), b.Entry.ID)
	assert.Equal(t, "mps2-an386", b.Info().Platform)
	assert.Equal(t, "true", ft.attrs["hwtest.emulated"])
	assert.Equal(t, "false", ft.attrs["hwtest.simulated"])
	assert.Equal(t, "emulated: QEMU mps2-an386, instruction-count time, not cycle-accurate", ft.attrs["hwtest.emulation"])
	assert.True(t, b.Emu().Exited(), "the lease's end stops QEMU")
}

// Without QEMU or the cross compiler, a lease of an emulated platform is
// skipped naming the packages, or failed under TINYPROF_REQUIRE_EMULATION=1.
func TestLeaseEmulatedWithoutTools(t *testing.T) {
	empty := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(empty, "README"), nil, 0o644))
	t.Setenv("PATH", empty)
	for _, tc := range []struct {
		require string
		failed  bool
	}{{"", false}, {"1", true}} {
		t.Run("require="+tc.require, func(t *testing.T) {
			t.Setenv(lab.EnvRequireEmulation, tc.require)
			l, err := NewLab(Config{LeaseDir: t.TempDir()})
			require.NoError(t, err)
			for _, e := range l.Boards {
				require.NotEqual(t, lab.KindEmulated, e.Kind(), "no emulated boards without QEMU")
			}
			inv := filepath.Join(t.TempDir(), "lab.yaml")
			require.NoError(t, os.WriteFile(inv, []byte("boards:\n  - {id: m7, emulate: mps2-an500}\n  - {id: s, platform: esp32s3, sim: true}\n"), 0o644))
			fromInv, err := NewLab(Config{LeaseDir: t.TempDir(), Inventory: inv})
			require.NoError(t, err)
			require.Len(t, fromInv.Boards, 1, "the emulated entry is left out, not quarantined")
			ft := newFakeTB(t, "TestEmu")
			ft.run(func(tb testing.TB) { l.Lease(tb, Platform("mps2-an500")) })
			assert.Equal(t, tc.failed, ft.failed, ft.msg)
			assert.Equal(t, !tc.failed, ft.skipped, ft.msg)
			assert.Contains(t, ft.msg, "apt-get install --no-install-recommends qemu-system-arm")
		})
	}
}
