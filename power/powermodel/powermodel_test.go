package powermodel_test

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tinyprof/tinyprof/platform"
	"github.com/tinyprof/tinyprof/power"
	"github.com/tinyprof/tinyprof/power/powermodel"
)

func TestESP32S3(t *testing.T) {
	p, err := platform.Lookup("esp32s3")
	require.NoError(t, err)
	m, err := powermodel.Board(p)
	require.NoError(t, err)
	tests := []struct {
		name string
		a    powermodel.Activity
		mA   float64
	}{
		{"idle", powermodel.Activity{}, 31.7},
		{"one core at 240 MHz", powermodel.Activity{Cores: 1}, 31.7 + 12},
		{"two cores at 160 MHz", powermodel.Activity{Cores: 2, MHz: 160}, 31.7 + 16},
		{"clamped to two cores and 240 MHz", powermodel.Activity{Cores: 9, MHz: 999}, 31.7 + 24},
		{"one core, PSRAM at half bandwidth", powermodel.Activity{Cores: 1, PSRAMBytesPerSec: p.Bandwidth.PSRAM / 2}, 31.7 + 12 + 10},
		{"flash beyond bandwidth is clamped", powermodel.Activity{FlashBytesPerSec: 10 * p.Bandwidth.Flash}, 31.7 + 15},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.InDelta(t, tt.mA*1e-3, float64(m.Current(tt.a)), 1e-12)
			assert.InDelta(t, tt.mA*1e-3*3.3, float64(m.Power(tt.a)), 1e-12)
		})
	}
	for _, f := range m.Figures {
		assert.NotEmpty(t, f.Source, f.Name)
	}
}

func TestESP32(t *testing.T) {
	p, err := platform.Lookup("esp32")
	require.NoError(t, err)
	m, err := powermodel.Board(p)
	require.NoError(t, err)
	// The datasheet row's two ends: idle, and both cores busy at 240 MHz.
	assert.InDelta(t, 30e-3, float64(m.Current(powermodel.Activity{})), 1e-12)
	assert.InDelta(t, 68e-3, float64(m.Current(powermodel.Activity{Cores: 2})), 1e-9)
	for _, f := range m.Figures {
		assert.NotEmpty(t, f.Source, f.Name)
	}
}

func TestNoFiguresNoModel(t *testing.T) {
	p, err := platform.Lookup("rp2040")
	require.NoError(t, err)
	_, err = powermodel.Board(p)
	require.ErrorIs(t, err, power.ErrNoModel)
}

func ExampleBoard() {
	p, _ := platform.Lookup("esp32s3")
	m, _ := powermodel.Board(p)
	fmt.Println("idle", m.Power(powermodel.Activity{}))
	fmt.Println("decoding", m.Power(powermodel.Activity{Cores: 1, PSRAMBytesPerSec: p.Bandwidth.PSRAM}))
	// Output:
	// idle 104.6mW
	// decoding 210.2mW
}
