package emu_test

import (
	"debug/elf"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tinyprof/tinyprof/device/emu"
)

func errorsIsToolMissing(err error) bool { return errors.Is(err, emu.ErrToolMissing) }

// TestBuildCache builds one image from several goroutines into an empty
// cache: all get the same image, which a later build finds in place.
func TestBuildCache(t *testing.T) {
	dir := t.TempDir()
	opts := emu.BuildOptions{CacheDir: dir, Defines: []string{"TP_MAX_PAYLOAD=256"}}
	if _, err := exec.LookPath("arm-none-eabi-gcc"); err != nil {
		t.Skip("arm-none-eabi-gcc not installed: apt-get install gcc-arm-none-eabi libnewlib-arm-none-eabi")
	}
	var wg sync.WaitGroup
	fws := make([]*emu.Firmware, 2)
	errs := make([]error, 2)
	for i := range fws {
		wg.Go(func() { fws[i], errs[i] = emu.Build(t.Context(), "mps2-an386", opts) })
	}
	wg.Wait()
	for i := range fws {
		require.NoError(t, errs[i])
		assert.Equal(t, fws[0].ELF, fws[i].ELF)
	}
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	assert.Len(t, entries, 1, "one image, no leftover build directories")

	st, err := os.Stat(fws[0].ELF)
	require.NoError(t, err)
	again := build(t, "mps2-an386", opts)
	st2, err := os.Stat(again.ELF)
	require.NoError(t, err)
	assert.Equal(t, st.ModTime(), st2.ModTime(), "the second build must come from the cache")

	other := build(t, "mps2-an386", emu.BuildOptions{})
	assert.NotEqual(t, fws[0].Key, other.Key, "other flags, other image")
}

// TestBuildFlashModel links a model blob into netduinoplus2's flash.
func TestBuildFlashModel(t *testing.T) {
	blob := []byte("a small model, linked into flash and read in place")
	fw := build(t, "netduinoplus2", emu.BuildOptions{CacheDir: t.TempDir(), FlashModel: blob})
	f, err := elf.Open(fw.ELF)
	require.NoError(t, err)
	defer f.Close()
	syms, err := f.Symbols()
	require.NoError(t, err)
	addr := map[string]uint64{}
	for _, s := range syms {
		addr[s.Name] = s.Value
	}
	require.Contains(t, addr, "tp_flash_model")
	assert.Equal(t, uint64(len(blob)), addr["tp_flash_model_end"]-addr["tp_flash_model"])
	assert.GreaterOrEqual(t, addr["tp_flash_model"], uint64(0x08000000), "in flash")
	assert.Less(t, addr["tp_flash_model"], uint64(0x08100000), "in flash")
}

func TestBuildErrors(t *testing.T) {
	_, err := emu.Build(t.Context(), "mps2-an999", emu.BuildOptions{})
	assert.ErrorContains(t, err, "mps2-an386", "the error lists the machines")
	_, err = emu.Build(t.Context(), "mps2-an386", emu.BuildOptions{CC: filepath.Join(t.TempDir(), "no-such-gcc")})
	assert.ErrorIs(t, err, emu.ErrToolMissing)
	assert.ErrorContains(t, err, "gcc-arm-none-eabi")
	_, err = emu.Listen(t.Context(), emu.Options{QEMU: filepath.Join(t.TempDir(), "no-such-qemu")})
	assert.ErrorIs(t, err, emu.ErrToolMissing)
	assert.ErrorContains(t, err, "qemu-system-arm")
}
