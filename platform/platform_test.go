package platform

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestCatalogueRowsAreComplete(t *testing.T) {
	want := []string{"esp32", "esp32p4", "esp32s3", "esp32s3-fh4r2", "imxrt1176", "jetson-orin-nano", "k210", "mps2-an386", "mps2-an500", "mps2-an505",
		"netduinoplus2", "nrf52840", "rp2040", "rp2350", "rp2350-psram", "rpi-zero-2w", "rpi4", "stm32f4", "stm32f7", "stm32h7"}
	require.Equal(t, want, Names())
	for _, p := range All() {
		t.Run(p.Name, func(t *testing.T) {
			assert.NotEmpty(t, p.Chip)
			assert.NotEmpty(t, p.Core)
			assert.Positive(t, p.Cores)
			assert.Positive(t, p.CPUMHz)
			assert.Positive(t, p.SRAM+p.PSRAM, "some RAM")
			assert.Contains(t, []string{"none", "sp", "dp"}, p.FPU)
			assert.Positive(t, p.DefaultBaud)
			assert.NotEmpty(t, p.FlashTool)
			assert.NotEmpty(t, p.Datasheet, "every row cites its source")
			if p.Emulated {
				// Nothing models an emulated machine: the firmware runs.
				assert.Zero(t, p.CPI)
				assert.Zero(t, p.Bandwidth)
				assert.Contains(t, p.Board, "emulated")
				return
			}
			assert.Positive(t, p.CPI)
			assert.NotEmpty(t, p.Estimates, "every modelled figure says where it comes from")
			for _, r := range []Region{SRAM, PSRAM, Flash} {
				if p.Capacity(r) > 0 && (r != Flash || p.XIP) {
					assert.Positive(t, p.Bandwidth.Of(r), "a region the cost model reads needs a bandwidth: %s", r)
				}
			}
		})
	}
}

func TestLookup(t *testing.T) {
	p, err := Lookup(" ESP32S3 ")
	require.NoError(t, err)
	assert.Equal(t, "esp32s3", p.Name)
	p, err = Lookup("jetson_orin_nano")
	require.NoError(t, err)
	assert.Equal(t, "jetson-orin-nano", p.Name)

	_, err = Lookup("esp8266")
	require.Error(t, err)
	assert.True(t, strings.Contains(err.Error(), "known platforms are esp32, esp32p4"), err.Error())
}

func TestAllReturnsACopy(t *testing.T) {
	a := All()
	a[0].Name = "changed"
	assert.NotEqual(t, "changed", All()[0].Name)
}

func TestEmulated(t *testing.T) {
	assert.Equal(t, []string{"mps2-an386", "mps2-an500", "mps2-an505", "netduinoplus2"}, Emulated())
	p, err := Lookup("mps2-an386")
	require.NoError(t, err)
	assert.True(t, p.Emulated)
	p, err = Lookup("stm32f4")
	require.NoError(t, err)
	assert.False(t, p.Emulated)
}
