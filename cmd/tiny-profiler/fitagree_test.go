package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
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

// agreeFormats are the formats the fixtures write: llama2.c's three
// exports and GGUF with the matrices of each type tinyprof encodes.
var agreeFormats = []struct {
	name    string
	version int        // llama2.c export version, when typ is 0
	typ     model.Type // GGUF matrix type; 0 for llama2.c
}{
	{"llama2c-v0", 0, 0}, {"llama2c-v1", 1, 0}, {"llama2c-v2-int8", 2, 0},
	{"gguf-f32", 0, model.TypeF32}, {"gguf-f16", 0, model.TypeF16}, {"gguf-bf16", 0, model.TypeBF16},
	{"gguf-q8_0", 0, model.TypeQ8_0}, {"gguf-q4_0", 0, model.TypeQ4_0}, {"gguf-q4_1", 0, model.TypeQ4_1},
	{"gguf-q5_0", 0, model.TypeQ5_0}, {"gguf-q5_1", 0, model.TypeQ5_1},
	{"gguf-q2_k", 0, model.TypeQ2_K}, {"gguf-q4_k", 0, model.TypeQ4_K},
}

// TestFitAgreement runs every fixture shape in every format the fixtures
// write through analyze-model (the CLI, --json) and through a simulated
// board of every platform that is not emulated, and requires the same fit
// verdict, the same words when the model does not fit, and the same
// region for the weights when it does.
//
// Tiny and Stories260K (at most about 1 MB) are really uploaded to a
// simulated board on an in-memory line (no baud pacing): the board's
// MODEL_BEGIN and MODEL_END decide. Stories15M (up to 60 MB) goes through
// Board.Place, the same size check and model.Fit call MODEL_BEGIN and
// MODEL_END make, on a sparse file that holds only its header (and zeros
// for weights), so the test stays fast. Under the race detector
// Stories260K goes through Place too: Tiny's uploads exercise the same
// concurrency.
func TestFitAgreement(t *testing.T) {
	t.Setenv("TINYPROF_STATE_DIR", t.TempDir())
	shapes := []struct {
		name   string
		cfg    fixtures.Llama2CConfig
		upload bool
	}{
		{"tiny", fixtures.Tiny, true},
		{"stories260k", fixtures.Stories260K, !raceEnabled},
		{"stories15m", fixtures.Stories15M, false},
	}
	var plats []platform.Platform
	for _, p := range platform.All() {
		if !p.Emulated {
			plats = append(plats, p)
		}
	}
	dir := t.TempDir()
	fit, refused := 0, 0 // the test means something only if both happen
	for _, sh := range shapes {
		for _, f := range agreeFormats {
			t.Run(sh.name+"/"+f.name, func(t *testing.T) {
				path := filepath.Join(dir, sh.name+"-"+f.name)
				data := writeAgreeModel(t, path, sh.cfg, f.version, f.typ, sh.upload)
				verdicts := analyzeVerdicts(t, path)
				info, err := model.Analyze(path)
				require.NoError(t, err)
				for _, p := range plats {
					want, ok := verdicts[p.Name]
					require.True(t, ok, "analyze-model gave no verdict for %s", p.Name)
					if want.Fits {
						fit++
					} else {
						refused++
					}
					if sh.upload {
						checkUpload(t, p, data, want)
					} else {
						checkPlace(t, p, info, want)
					}
				}
			})
		}
	}
	t.Logf("%d combinations fit, %d do not", fit, refused)
	assert.Positive(t, fit)
	assert.Positive(t, refused)
}

// agreeVerdict is analyze-model's verdict on one platform.
type agreeVerdict struct {
	Platform string           `json:"platform"`
	Fits     bool             `json:"fits"`
	Verdict  string           `json:"verdict"`
	Report   *model.FitReport `json:"report"`
}

// analyzeVerdicts runs `tiny-profiler analyze-model --json path`.
func analyzeVerdicts(t *testing.T, path string) map[string]agreeVerdict {
	t.Helper()
	var out, errOut bytes.Buffer
	code := run([]string{"analyze-model", "--json", path}, &out, &errOut)
	require.Equal(t, 0, code, "analyze-model: %s", errOut.String())
	var doc struct {
		Fit []agreeVerdict `json:"fit"`
	}
	require.NoError(t, json.Unmarshal(out.Bytes(), &doc))
	m := map[string]agreeVerdict{}
	for _, v := range doc.Fit {
		m[v.Platform] = v
	}
	return m
}

// writeAgreeModel writes the model to path and returns its bytes, whole
// if keep, else only the header: the file on disk is then sparse, the
// size of the model, with zeros after the header.
func writeAgreeModel(t *testing.T, path string, cfg fixtures.Llama2CConfig, version int, typ model.Type, keep bool) []byte {
	t.Helper()
	w := &prefixWriter{keep: 8 << 20}
	if keep {
		w.keep = 1 << 30
	}
	// A model only placed, not uploaded, needs real headers and sizes,
	// not real weights: zeros are much faster to write.
	switch {
	case typ != 0:
		require.NoError(t, fixtures.WriteGGUF(w, cfg, fixtures.GGUFOptions{Type: typ, ZeroData: !keep}, fixtures.Seed))
	case keep:
		require.NoError(t, fixtures.WriteLlama2C(w, cfg, version, fixtures.Seed))
	default:
		require.NoError(t, model.WriteLlama2C(w, cfg.Llama2CConfig, version, cfg.GroupSize, func(string, int64, []float32) {}))
	}
	f, err := os.Create(path)
	require.NoError(t, err)
	defer f.Close()
	_, err = f.Write(w.buf.Bytes())
	require.NoError(t, err)
	require.NoError(t, f.Truncate(w.n))
	return w.buf.Bytes()
}

// prefixWriter keeps the first keep bytes written to it and counts all.
type prefixWriter struct {
	buf  bytes.Buffer
	keep int64
	n    int64
}

func (w *prefixWriter) Write(p []byte) (int, error) {
	if room := w.keep - int64(w.buf.Len()); room > 0 {
		w.buf.Write(p[:min(int64(len(p)), room)])
	}
	w.n += int64(len(p))
	return len(p), nil
}

var _ io.Writer = (*prefixWriter)(nil)

// checkUpload uploads data to a simulated board of p and compares its
// answer with analyze-model's.
func checkUpload(t *testing.T, p platform.Platform, data []byte, want agreeVerdict) {
	t.Helper()
	// The largest frames the protocol allows: a sixteenth of the frames
	// to upload, and the placement does not depend on them.
	const payload = firmware.MaxPayloadLimit
	tr, b, err := sim.Pipe(sim.Options{Platform: p.Name, MaxPayload: payload})
	require.NoError(t, err)
	dev := device.New(tr, device.Options{MaxPayload: payload})
	defer func() {
		dev.Close()
		b.Close()
	}()
	_, err = dev.Hello(t.Context())
	require.NoError(t, err)
	res, err := dev.LoadModel(t.Context(), bytes.NewReader(data), int64(len(data)), device.LoadOptions{})
	if want.Fits {
		if assert.NoError(t, err, "%s: analyze-model says it fits", p.Name) {
			assert.Equal(t, string(want.Report.FileRegion()), res.Region, "%s: where the weights live", p.Name)
		}
		return
	}
	var fe *firmware.Error
	if !assert.ErrorAs(t, err, &fe, "%s: analyze-model says %q, the board loaded it", p.Name, want.Verdict) {
		return
	}
	assert.Equal(t, firmware.CodeModelTooLarge, fe.Code, "%s: %v", p.Name, err)
	// Refused at MODEL_END the board says what analyze-model says; at
	// MODEL_BEGIN, before the header, it can only say the file is too big.
	if !strings.Contains(err.Error(), want.Verdict) {
		assert.Contains(t, err.Error(), "bytes exceeds the", "%s: board said %v; analyze-model said %q", p.Name, err, want.Verdict)
	}
}

// checkPlace asks a simulated board of p where it would place info.
func checkPlace(t *testing.T, p platform.Platform, info *model.Info, want agreeVerdict) {
	t.Helper()
	_, b, err := sim.Pipe(sim.Options{Platform: p.Name})
	require.NoError(t, err)
	defer b.Close()
	got, err := b.Place(info)
	if want.Fits {
		if assert.NoError(t, err, "%s: analyze-model says it fits", p.Name) {
			assert.Equal(t, want.Report.FileRegion(), got.FileRegion(), "%s: where the weights live", p.Name)
		}
		return
	}
	if !assert.Error(t, err, "%s: analyze-model says %q, the board would load it", p.Name, want.Verdict) {
		return
	}
	if errors.Is(err, model.ErrDoesNotFit) {
		assert.Equal(t, want.Verdict, err.Error(), p.Name)
	} else {
		assert.Contains(t, err.Error(), "bytes exceeds the", fmt.Sprintf("%s: analyze-model said %q", p.Name, want.Verdict))
	}
}

// TestNoFitExitStatus checks the exit status the README documents: 5 when
// the model does not fit the named platform, for analyze-model and for a
// benchmark on a simulated board; 0 when it fits, or for the table of
// every platform.
func TestNoFitExitStatus(t *testing.T) {
	t.Setenv("TINYPROF_STATE_DIR", t.TempDir())
	m := fixtures.Model(t, "stories260k.bin")
	tests := []struct {
		args []string
		want int
	}{
		{[]string{"analyze-model", m, "--platform", "rp2040"}, exitNoFit},
		{[]string{"analyze-model", m, "--platform", "rp2040", "--json"}, exitNoFit},
		{[]string{"analyze-model", m, "--platform", "rp2040", "--ctx", "176"}, 0},
		{[]string{"analyze-model", m}, 0},
		{[]string{"analyze-model", m, "--platform", "rp2040", "--ctx", "-1"}, 2},
		{[]string{"benchmark", "--sim", "rp2040", "--model", m, "--runs", "1"}, exitNoFit},
		{[]string{"benchmark", "--sim", "esp32s3", "--cpu-mhz", "241"}, 2},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args[:1], " ")+" "+strings.Join(tt.args[2:], " "), func(t *testing.T) {
			var out, errOut bytes.Buffer
			assert.Equal(t, tt.want, run(tt.args, &out, &errOut), "stderr: %s", errOut.String())
		})
	}
}
