package model_test

import (
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tinyprof/tinyprof/fixtures"
	"github.com/tinyprof/tinyprof/model"
	"github.com/tinyprof/tinyprof/platform"
)

func TestFit(t *testing.T) {
	info, err := model.Analyze(fixtures.Model(t, "stories260k.bin"))
	require.NoError(t, err)
	esp, err := platform.Lookup("esp32s3")
	require.NoError(t, err)
	stm, err := platform.Lookup("stm32f4")
	require.NoError(t, err)

	tests := []struct {
		name      string
		p         platform.Platform
		cfg       model.FitConfig
		wantErr   string
		wantMax   int
		wantPlace map[string]platform.Region
	}{
		{
			name: "esp32s3 auto", p: esp,
			wantMax:   512,
			wantPlace: map[string]platform.Region{"weights": platform.Flash, "KV cache": platform.PSRAM, "activations": platform.SRAM, "tokenizer": platform.SRAM},
		},
		{
			name: "esp32s3 KV pinned to SRAM", p: esp, cfg: model.FitConfig{KVCache: platform.SRAM},
			wantErr: "KV cache 640 KiB exceeds 478.9 KiB SRAM; put it in PSRAM or cut the context to 256",
			wantMax: 386,
		},
		{
			name: "esp32s3 KV f16 in SRAM", p: esp, cfg: model.FitConfig{KVCache: platform.SRAM, KVBytesPerElem: 2},
			wantMax:   512,
			wantPlace: map[string]platform.Region{"KV cache": platform.SRAM},
		},
		{
			name: "stm32f4 has no PSRAM for the KV cache", p: stm,
			wantErr: "KV cache 640 KiB exceeds 158.9 KiB SRAM; store the KV cache as f16 or int8 or cut the context to 128",
			wantMax: 136,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := model.Fit(info, tt.p, tt.cfg)
			require.NotNil(t, f)
			if tt.wantErr != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tt.wantErr)
				assert.True(t, errors.Is(err, model.ErrDoesNotFit))
				var fe *model.FitError
				require.True(t, errors.As(err, &fe))
				assert.False(t, f.Fits)
			} else {
				require.NoError(t, err)
				assert.True(t, f.Fits)
				assert.Equal(t, "fits", f.Verdict)
			}
			if tt.wantMax != 0 {
				assert.Equal(t, tt.wantMax, f.MaxContext)
			}
			got := map[string]platform.Region{}
			for _, it := range f.Items {
				if _, ok := tt.wantPlace[it.Name]; ok {
					got[it.Name] = it.Region
				}
			}
			if diff := cmp.Diff(tt.wantPlace, got); tt.wantPlace != nil && diff != "" {
				t.Errorf("placement (-want +got):\n%s", diff)
			}
		})
	}
}
