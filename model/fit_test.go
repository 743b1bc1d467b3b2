package model_test

import (
	"bytes"
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tinyprof/tinyprof/fixtures"
	"github.com/tinyprof/tinyprof/model"
	"github.com/tinyprof/tinyprof/platform"
)

// stories15MQ4 analyses a stories15M-shaped GGUF Q4_0 model, generated in
// memory (about 9 MB, a fraction of a second).
func stories15MQ4(tb testing.TB) *model.Info {
	tb.Helper()
	var b bytes.Buffer
	require.NoError(tb, fixtures.WriteGGUF(&b, fixtures.Stories15M, fixtures.GGUFOptions{Type: model.TypeQ4_0}, fixtures.Seed))
	info, err := model.AnalyzeReader(bytes.NewReader(b.Bytes()), int64(b.Len()))
	require.NoError(tb, err)
	return info
}

func lookup(tb testing.TB, name string) platform.Platform {
	tb.Helper()
	p, err := platform.Lookup(name)
	require.NoError(tb, err)
	return p
}

func TestFit(t *testing.T) {
	s260, err := model.Analyze(fixtures.Model(t, "stories260k.bin"))
	require.NoError(t, err)
	q80, err := model.Analyze(fixtures.Model(t, "stories260k-q80.bin"))
	require.NoError(t, err)
	s15 := stories15MQ4(t)

	tests := []struct {
		name      string
		info      *model.Info
		p         string
		cfg       model.FitConfig
		wantErr   string // the whole verdict: advice is deterministic
		wantMax   int
		wantPlace map[string]platform.Region
		// wantAbsent are items the runtime does not have.
		wantAbsent []string
	}{
		{
			name: "esp32s3 auto: the file in PSRAM", info: s260, p: "esp32s3", wantMax: 512,
			wantPlace: map[string]platform.Region{"token embedding": platform.PSRAM, "layer 4": platform.PSRAM, "KV cache": platform.PSRAM, "activations": platform.SRAM},
		},
		{
			name: "esp32s3 weights in flash", info: s260, p: "esp32s3", cfg: model.FitConfig{Weights: platform.Flash}, wantMax: 512,
			wantPlace: map[string]platform.Region{"file header": platform.Flash, "layer 0": platform.Flash, "classifier": platform.Flash},
		},
		{
			name: "esp32s3 activations pinned to PSRAM", info: s260, p: "esp32s3", cfg: model.FitConfig{Scratch: platform.PSRAM}, wantMax: 512,
			wantPlace: map[string]platform.Region{"activations": platform.PSRAM},
		},
		{
			name: "esp32s3 per-tensor: the embedding copied to SRAM", info: s260, p: "esp32s3",
			cfg:       model.FitConfig{Place: map[string]platform.Region{"token embedding": platform.SRAM}},
			wantMax:   512,
			wantPlace: map[string]platform.Region{"token embedding": platform.SRAM, "token embedding (stored)": platform.PSRAM, "layer 0": platform.PSRAM},
		},
		{
			name: "stories15M q4_0 on esp32s3: too big for PSRAM beside the KV cache, so flash", info: s15, p: "esp32s3", wantMax: 256,
			wantPlace: map[string]platform.Region{"token embedding": platform.Flash, "KV cache": platform.PSRAM, "activations": platform.SRAM},
		},
		{
			name: "stories15M q4_0 pinned to PSRAM", info: s15, p: "esp32s3", cfg: model.FitConfig{Weights: platform.PSRAM}, wantMax: 0,
			wantErr: "model file (9.0 MiB) does not fit: 4.6 MiB free in PSRAM, 4.4 MiB short, from token embedding on; cheapest fix: store the model in flash (--weights-in flash)",
		},
		{
			name: "int8 llama2.c with llama2.c's runtime counts runq's float32 embedding table and the tokenizer", info: q80, p: "esp32s3",
			cfg: model.FitConfig{Runtime: model.RuntimeLlama2C}, wantMax: 512,
			wantPlace: map[string]platform.Region{"token embedding f32 copy": platform.SRAM, "tokenizer": platform.SRAM, "KV cache": platform.PSRAM},
		},
		{
			name: "int8 llama2.c with tinyprof's runtime: rows read in place, no tokenizer", info: q80, p: "esp32s3", wantMax: 512,
			wantPlace:  map[string]platform.Region{"token embedding": platform.PSRAM},
			wantAbsent: []string{"token embedding f32 copy", "tokenizer"},
		},
		{
			name: "llama2.c's runtime and an f16 KV cache, a what-if", info: s260, p: "rp2350",
			cfg: model.FitConfig{Runtime: model.RuntimeLlama2C, KVBytesPerElem: 2}, wantMax: 512,
			wantPlace: map[string]platform.Region{"KV cache": platform.SRAM},
		},
		{
			name: "stm32h7: the KV cache in SRAM, the file in flash", info: s260, p: "stm32h7", wantMax: 512,
			wantPlace: map[string]platform.Region{"KV cache": platform.SRAM, "layer 0": platform.Flash},
		},
		{
			name: "stm32f4: a quantization and a shorter context together", info: s260, p: "stm32f4",
			wantErr: "KV cache (640 KiB) does not fit: 170.0 KiB free in SRAM, 470.0 KiB short; cheapest fix: quantize to q8_0 (tiny-profiler quantize --type q8_0) and cut the context to 128 (--ctx 128)",
		},
		{
			name: "rp2350: a shorter context", info: s260, p: "rp2350", wantMax: 386,
			wantErr: "KV cache (640 KiB) does not fit: 482.0 KiB free in SRAM, 158.0 KiB short; cheapest fix: cut the context to 384 (--ctx 384)",
		},
		{
			name: "rp2350 at --ctx 384 fits", info: s260, p: "rp2350", cfg: model.FitConfig{Context: 384}, wantMax: 386,
			wantPlace: map[string]platform.Region{"KV cache": platform.SRAM},
		},
		{
			name: "esp32 with 4 MiB flash cannot take stories15M", info: s15, p: "esp32",
			wantErr: "model file (9.0 MiB) does not fit: 4.6 MiB free in PSRAM, 4.4 MiB short, from token embedding on; no change of format, placement or context makes it fit: choose a board with more PSRAM",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := model.Fit(tt.info, lookup(t, tt.p), tt.cfg)
			require.NotNil(t, f)
			if tt.wantErr != "" {
				require.Error(t, err)
				assert.Equal(t, tt.wantErr, err.Error())
				assert.Equal(t, tt.wantErr, f.Verdict)
				assert.True(t, errors.Is(err, model.ErrDoesNotFit))
				var fe *model.FitError
				require.True(t, errors.As(err, &fe))
				assert.False(t, f.Fits)
				assert.Positive(t, fe.Short())
			} else {
				require.NoError(t, err)
				assert.True(t, f.Fits)
				assert.Equal(t, "fits", f.Verdict)
			}
			assert.Equal(t, tt.wantMax, f.MaxContext)
			got := map[string]platform.Region{}
			for _, it := range f.Items {
				if _, ok := tt.wantPlace[it.Name]; ok {
					got[it.Name] = it.Region
				}
			}
			if diff := cmp.Diff(tt.wantPlace, got); tt.wantPlace != nil && diff != "" {
				t.Errorf("placement (-want +got):\n%s", diff)
			}
			for _, it := range f.Items {
				assert.NotContains(t, tt.wantAbsent, it.Name)
			}
		})
	}
}

// TestFitFixesWork checks that every fix Fit offers does make the model
// fit when applied, on every platform and fixture: the advice is checked,
// not guessed.
func TestFitFixesWork(t *testing.T) {
	s260, err := model.Analyze(fixtures.Model(t, "stories260k.bin"))
	require.NoError(t, err)
	q80, err := model.Analyze(fixtures.Model(t, "stories260k-q80.bin"))
	require.NoError(t, err)
	infos := map[string]*model.Info{"stories260k.bin": s260, "stories260k-q80.bin": q80, "stories15m-q4_0.gguf": stories15MQ4(t)}
	for name, info := range infos {
		for _, p := range platform.All() {
			_, err := model.Fit(info, p, model.FitConfig{})
			var fe *model.FitError
			if !errors.As(err, &fe) {
				continue
			}
			for _, fix := range fe.Fixes {
				if fix.Quantize != "" {
					continue // checked through quantize in TestFitQuantizeFix
				}
				cfg := model.FitConfig{Weights: fix.Weights, Context: fix.Context, KVBytesPerElem: fix.KVBytesPerElem}
				_, err := model.Fit(info, p, cfg)
				assert.NoError(t, err, "%s on %s: fix %q", name, p.Name, fix.Text)
			}
		}
	}
}

// TestFitQuantizeFix quantizes as the advice says and checks the result fits.
func TestFitQuantizeFix(t *testing.T) {
	in := fixtures.Model(t, "stories260k.gguf")
	info, err := model.Analyze(in)
	require.NoError(t, err)
	p := lookup(t, "stm32f4")
	_, err = model.Fit(info, p, model.FitConfig{})
	var fe *model.FitError
	require.ErrorAs(t, err, &fe)
	require.NotEmpty(t, fe.Fixes)
	fix := fe.Fixes[0]
	require.Equal(t, "q8_0", fix.Quantize, fix.Text)
	out := t.TempDir() + "/q.gguf"
	_, err = model.Quantize(t.Context(), in, out, model.QuantizeOptions{Type: model.TypeQ8_0}, nil)
	require.NoError(t, err)
	q, err := model.Analyze(out)
	require.NoError(t, err)
	_, err = model.Fit(q, p, model.FitConfig{Context: fix.Context})
	require.NoError(t, err)
}

func TestFitRefusesBadConfig(t *testing.T) {
	info, err := model.Analyze(fixtures.Model(t, "tiny.bin"))
	require.NoError(t, err)
	p := lookup(t, "esp32s3")
	for _, tt := range []struct {
		name string
		cfg  model.FitConfig
		want string
	}{
		{"unknown item", model.FitConfig{Place: map[string]platform.Region{"layer 7": platform.SRAM}}, `names "layer 7", which this model does not have`},
		{"unknown region", model.FitConfig{Weights: "dram"}, `FitConfig.Weights is "dram"`},
		{"KV cache in flash", model.FitConfig{KVCache: platform.Flash}, "cannot live in flash"},
		{"tokenizer pinned to flash by name", model.FitConfig{Runtime: model.RuntimeLlama2C, Place: map[string]platform.Region{"tokenizer": platform.Flash}}, "written at run time"},
		{"a tokenizer tinyprof's runtime does not have", model.FitConfig{Tokenizer: platform.SRAM}, "keeps no tokenizer on the device"},
		{"an f16 KV cache tinyprof's runtime does not have", model.FitConfig{KVBytesPerElem: 2}, "keeps a float32 KV cache"},
		{"unknown runtime", model.FitConfig{Runtime: "ggml"}, `Runtime is "ggml"`},
		{"a context beyond the model's", model.FitConfig{Context: 2048}, "longer than the model's 1024"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := model.Fit(info, p, tt.cfg)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.want)
			assert.False(t, errors.Is(err, model.ErrDoesNotFit), "a bad configuration is not a verdict")
		})
	}
}

// TestFitAccounts checks the report adds up: items per region are the
// region's use, within its capacity, and the tensor groups hold every
// tensor byte once.
func TestFitAccounts(t *testing.T) {
	info := stories15MQ4(t)
	f, err := model.Fit(info, lookup(t, "esp32s3"), model.FitConfig{})
	require.NoError(t, err)
	for _, r := range f.Regions {
		assert.Equal(t, f.Bytes("", r.Region), r.Used, r.Region)
		assert.LessOrEqual(t, r.Used, r.Capacity, r.Region)
		assert.Equal(t, r.Size, r.Reserved+r.Capacity, r.Region)
	}
	assert.Equal(t, info.FileSize, f.Bytes(model.KindWeights, "")+f.Bytes(model.KindFile, ""), "the stored file, header included")
	assert.Equal(t, platform.Flash, f.WeightsIn())
	assert.Equal(t, platform.Flash, f.FileRegion())
	assert.NotEmpty(t, f.Reservations)
}
