package sim_test

import (
	"bytes"
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tinyprof/tinyprof/device"
	"github.com/tinyprof/tinyprof/device/sim"
	"github.com/tinyprof/tinyprof/firmware"
	"github.com/tinyprof/tinyprof/fixtures"
	"github.com/tinyprof/tinyprof/model"
	"github.com/tinyprof/tinyprof/platform"
)

// TestPlacementFollowsFit checks that the board stores the model where
// model.Fit says, reports its memory from Fit's items, and refuses what
// Fit refuses with Fit's words.
func TestPlacementFollowsFit(t *testing.T) {
	data := fixtures.Llama2C(fixtures.Stories260K, fixtures.Seed)
	info, err := model.AnalyzeReader(bytes.NewReader(data), int64(len(data)))
	require.NoError(t, err)
	tests := []struct {
		name    string
		opts    sim.Options
		region  string
		wantErr bool
	}{
		{"esp32s3 automatic", sim.Options{Platform: "esp32s3"}, "psram", false},
		{"esp32s3 WeightsIn flash", sim.Options{Platform: "esp32s3", WeightsIn: platform.Flash}, "flash", false},
		{"esp32s3 Fit.Weights sram", sim.Options{Platform: "esp32s3", Fit: model.FitConfig{Weights: platform.SRAM}}, "", true},
		{"stm32h7 automatic", sim.Options{Platform: "stm32h7"}, "flash", false},
		{"rp2040 full context", sim.Options{Platform: "rp2040"}, "", true},
		{"rp2040 at 160 tokens", sim.Options{Platform: "rp2040", Fit: model.FitConfig{Context: 160}}, "flash", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, b := openPipe(t, tt.opts)
			want, wantErr := model.Fit(info, b.Platform(), b.Options.Fit)
			res, err := d.LoadModel(t.Context(), bytes.NewReader(data), int64(len(data)), device.LoadOptions{})
			if tt.wantErr {
				require.Error(t, wantErr)
				var fe *firmware.Error
				require.ErrorAs(t, err, &fe)
				assert.Equal(t, firmware.CodeModelTooLarge, fe.Code)
				if fe.Request == firmware.TypeModelEnd {
					assert.Equal(t, wantErr.Error(), fe.Text, "the board says what analyze-model says")
				} else {
					assert.Contains(t, fe.Text, "bytes exceeds the", "before the header, only the size")
				}
				return
			}
			require.NoError(t, wantErr)
			require.NoError(t, err)
			assert.Equal(t, tt.region, res.Region)
			assert.Equal(t, string(want.FileRegion()), res.Region)

			// A generation holds the KV cache and activations where Fit put
			// them, and gives them back.
			before, err := d.Metrics(t.Context())
			require.NoError(t, err)
			g, err := d.Generate(t.Context(), device.GenerateRequest{MaxTokens: 4})
			require.NoError(t, err)
			after, err := d.Metrics(t.Context())
			require.NoError(t, err)
			assert.Equal(t, before.FreeHeap, after.FreeHeap)
			p := b.Platform()
			peakSRAM := int64(g.Summary.PeakHeap) - p.Reserved(platform.SRAM)
			assert.Equal(t, want.Bytes("", platform.SRAM), peakSRAM, "SRAM held during the generation")
			if p.PSRAM > 0 {
				assert.Equal(t, want.Bytes("", platform.PSRAM), int64(g.Summary.PeakPSRAM), "PSRAM held during the generation")
			}
		})
	}
}

// TestPlaceMatchesUpload checks Board.Place, the placement call without an
// upload, against a real upload.
func TestPlaceMatchesUpload(t *testing.T) {
	data := fixtures.Llama2C(fixtures.Stories260K, fixtures.Seed)
	info, err := model.AnalyzeReader(bytes.NewReader(data), int64(len(data)))
	require.NoError(t, err)
	for _, p := range []string{"esp32s3", "stm32f4", "rp2350", "rpi-zero-2w"} {
		t.Run(p, func(t *testing.T) {
			d, b := openPipe(t, sim.Options{Platform: p})
			placed, perr := b.Place(info)
			_, lerr := d.LoadModel(t.Context(), bytes.NewReader(data), int64(len(data)), device.LoadOptions{})
			require.Equal(t, perr == nil, lerr == nil, "Place: %v; upload: %v", perr, lerr)
			if perr != nil {
				assert.Contains(t, lerr.Error(), perr.Error())
				return
			}
			// Place again with the model loaded: it counts as replaced.
			again, err := b.Place(info)
			require.NoError(t, err)
			assert.Equal(t, placed.Items, again.Items)
		})
	}
}

func TestPerTensorPlacement(t *testing.T) {
	data := fixtures.Llama2C(fixtures.Stories260K, fixtures.Seed)
	d, _ := openPipe(t, sim.Options{Platform: "esp32s3", Fit: model.FitConfig{Place: map[string]platform.Region{model.ItemEmbedding: platform.SRAM}}})
	before, err := d.Metrics(t.Context())
	require.NoError(t, err)
	res, err := d.LoadModel(t.Context(), bytes.NewReader(data), int64(len(data)), device.LoadOptions{})
	require.NoError(t, err)
	assert.Equal(t, "psram", res.Region, "the file is stored in PSRAM")
	after, err := d.Metrics(t.Context())
	require.NoError(t, err)
	assert.Equal(t, int64(131072), int64(before.FreeHeap)-int64(after.FreeHeap), "SRAM holds the embedding's copy")
	assert.Equal(t, int64(len(data)), int64(before.PSRAMFree)-int64(after.PSRAMFree), "PSRAM holds the whole file")
}

// TestFlashModelSurvivesReboot: a model stored in flash is still there
// after a reset, and its RAM items (here llama2.c's tokenizer) take their
// RAM again.
func TestFlashModelSurvivesReboot(t *testing.T) {
	data := fixtures.Llama2C(fixtures.Stories260K, fixtures.Seed)
	d, _ := openPipe(t, sim.Options{Platform: "stm32h7", Fit: model.FitConfig{Runtime: model.RuntimeLlama2C}})
	before, err := d.Metrics(t.Context())
	require.NoError(t, err)
	_, err = d.LoadModel(t.Context(), bytes.NewReader(data), int64(len(data)), device.LoadOptions{})
	require.NoError(t, err)
	loaded, err := d.Metrics(t.Context())
	require.NoError(t, err)
	require.Equal(t, int64(12800), int64(before.FreeHeap)-int64(loaded.FreeHeap), "the tokenizer")
	_, err = d.Reset(t.Context())
	require.NoError(t, err)
	rebooted, err := d.Metrics(t.Context())
	require.NoError(t, err)
	assert.Equal(t, loaded.FreeHeap, rebooted.FreeHeap)
	_, err = d.Generate(t.Context(), device.GenerateRequest{MaxTokens: 2})
	require.NoError(t, err, "the model is still loaded")
}

func TestClockOverride(t *testing.T) {
	d, b := openPipe(t, sim.Options{Platform: "esp32s3", CPUMHz: 160, Cores: 1})
	assert.Equal(t, 160, b.Platform().CPUMHz)
	assert.Equal(t, 1, b.Platform().Cores)
	assert.Equal(t, uint16(160), d.Info().CPUMHz, "the board reports its clock")
	for _, o := range []sim.Options{{Platform: "esp32s3", CPUMHz: 480}, {Platform: "rp2040", Cores: 4}} {
		_, _, err := sim.Pipe(o)
		assert.Error(t, err, "%+v", o)
	}
	_, _, err := sim.Pipe(sim.Options{WeightsIn: platform.Flash, Fit: model.FitConfig{Weights: platform.PSRAM}})
	assert.ErrorContains(t, err, "disagree")
	assert.False(t, errors.Is(err, model.ErrDoesNotFit))
}
