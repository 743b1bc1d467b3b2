package platform

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestFirmwareReserveIsSourced(t *testing.T) {
	for _, p := range All() {
		t.Run(p.Name, func(t *testing.T) {
			res := p.FirmwareReserve()
			require.NotEmpty(t, res)
			for _, r := range res {
				assert.Positive(t, r.Bytes, r.What)
				assert.NotEmpty(t, r.What)
				assert.NotEmpty(t, r.Source, r.What)
				assert.Equal(t, r.Source == "estimate", r.Estimate, "%s: an estimate says so, and only an estimate", r.What)
				assert.Positive(t, p.Capacity(r.Region), "%s reserves %s, which it does not have", r.What, r.Region)
			}
			for _, r := range []Region{SRAM, PSRAM, Flash} {
				assert.Less(t, p.Reserved(r), max(1, p.Capacity(r)), "the firmware leaves some %s", r)
			}
		})
	}
}

func TestFirmwareReserveFigures(t *testing.T) {
	tests := []struct {
		name               string
		sram, psram, flash int64
	}{
		// ESP-IDF: the factory app partition ends at 0x110000.
		{"esp32s3", 32*KiB + 64*KiB + 3120, 0, 0x110000},
		// 13,221 B of agent and 16 KiB estimated: 29,605 B, in the first
		// two 16 KiB sectors.
		{"stm32f4", 8*KiB + 3120, 0, 32 * KiB},
		{"stm32h7", 8*KiB + 3120, 0, 128 * KiB},
		// 13,221 + 48 KiB = 62,373 B, rounded to 4 KiB sectors.
		{"rp2040", 24*KiB + 3120, 0, 64 * KiB},
		{"rpi-zero-2w", 0, 160 * MiB, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := Lookup(tt.name)
			require.NoError(t, err)
			assert.Equal(t, tt.sram, p.Reserved(SRAM), "SRAM")
			assert.Equal(t, tt.psram, p.Reserved(PSRAM), "PSRAM")
			assert.Equal(t, tt.flash, p.Reserved(Flash), "flash")
		})
	}
}

func TestWithClock(t *testing.T) {
	p, err := Lookup("esp32s3")
	require.NoError(t, err)
	got, err := p.WithClock(160, 1)
	require.NoError(t, err)
	assert.Equal(t, 160, got.CPUMHz)
	assert.Equal(t, 1, got.Cores)
	assert.Equal(t, 240, p.CPUMHz, "the catalogue's row is a copy, unchanged")
	same, err := p.WithClock(0, 0)
	require.NoError(t, err)
	assert.Equal(t, p, same)
	for _, bad := range []struct{ mhz, cores int }{{241, 0}, {0, 3}, {-1, 0}, {0, -2}} {
		_, err := p.WithClock(bad.mhz, bad.cores)
		assert.Error(t, err, "%+v", bad)
	}
	_, err = p.WithClock(480, 0)
	assert.ErrorContains(t, err, "above the ESP32-S3's maximum of 240 MHz")
}
