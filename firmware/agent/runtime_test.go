package agent

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tinyprof/tinyprof/device"
	"github.com/tinyprof/tinyprof/firmware"
	"github.com/tinyprof/tinyprof/fixtures"
	"github.com/tinyprof/tinyprof/model/llama"
)

// runtimeSources are the inference runtime's units, relative to this
// directory, that replace host/main.c's stand-in generator.
var runtimeSources = []string{"../runtime/tp_rt_load.c", "../runtime/tp_rt_forward.c", "../runtime/tp_rt_sample.c",
	"../runtime/tp_rt_math.c", "../runtime/tp_runtime_port.c"}

// buildHostRuntime builds host/main.c with the agent and the inference
// runtime (-DTP_HOST_RUNTIME), with ASan and UBSan where available.
func buildHostRuntime(tb testing.TB, flags ...string) string {
	tb.Helper()
	flags = append([]string{"-ffp-contract=off", "-DTP_HOST_RUNTIME", "-I../runtime"}, flags...)
	return build(tb, "tinyprof-host-rt", true, append([]string{"host/main.c", "tinyprof_agent.c"}, runtimeSources...), flags...)
}

// bootModel returns the environment that makes the runtime host agent
// hold the fixture model name from boot, as a board holds one in flash.
func bootModel(tb testing.TB, name string) []string {
	tb.Helper()
	path := fixtures.Model(tb, name)
	b, err := os.ReadFile(path)
	require.NoError(tb, err)
	sum := sha256.Sum256(b)
	return []string{"TINYPROF_MODEL=" + path, "TINYPROF_MODEL_SHA256=" + hex.EncodeToString(sum[:])}
}

// hostDevice starts bin behind a pty and returns the serial client on it,
// after HELLO.
func hostDevice(t *testing.T, bin string, env ...string) (*proc, *device.Device) {
	t.Helper()
	p := start(t, bin, env...)
	d := device.New(p.Master, device.Options{})
	t.Cleanup(func() { d.Close() })
	_, err := d.Hello(t.Context())
	require.NoError(t, err)
	return p, d
}

// agreement is a generation both the agent and model/llama run: greedy,
// and sampled with temperature, top-p and top-k in the protocol's permille.
var agreement = []struct {
	name string
	req  device.GenerateRequest
	opts llama.Options
}{
	{"greedy", device.GenerateRequest{Prompt: "Once upon a time", MaxTokens: 40},
		llama.Options{MaxTokens: 40}},
	{"sampled", device.GenerateRequest{Prompt: "the cat", MaxTokens: 40, Seed: 42, Temperature: 0.8, TopP: 0.9, TopK: 40},
		llama.Options{MaxTokens: 40, Seed: 42, Temperature: float32(800) / 1000, TopP: float32(900) / 1000, TopK: 40}},
}

// checkAgreement runs every agreement case on d and requires model/llama's
// tokens for the model file at path.
func checkAgreement(t *testing.T, d *device.Device, path string) {
	t.Helper()
	m, err := llama.Open(path)
	require.NoError(t, err)
	for _, a := range agreement {
		want, err := m.Generate(t.Context(), []byte(a.req.Prompt), a.opts)
		require.NoError(t, err)
		g, err := d.Generate(t.Context(), a.req)
		require.NoError(t, err, a.name)
		got := make([]uint32, len(g.Tokens))
		for i, tok := range g.Tokens {
			got[i] = tok.ID
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("%s: %s tokens differ from model/llama's (-reference +agent):\n%s", path, a.name, diff)
		}
	}
}

// TestRuntimeTokensMatchReference uploads every fixture format, of Tiny
// and of Stories260K, to the host agent built with the inference runtime,
// through the serial client, and requires model/llama's tokens.
func TestRuntimeTokensMatchReference(t *testing.T) {
	bin := buildHostRuntime(t)
	for _, shape := range []string{"tiny", "stories260k"} {
		for _, suffix := range []string{".bin", "-v1.bin", "-q80.bin", ".gguf", "-q8_0.gguf", "-q4_0.gguf"} {
			name := shape + suffix
			t.Run(name, func(t *testing.T) {
				_, d := hostDevice(t, bin)
				path := fixtures.Model(t, name)
				data, err := os.ReadFile(path)
				require.NoError(t, err)
				res, err := d.LoadModel(t.Context(), bytes.NewReader(data), int64(len(data)), device.LoadOptions{Name: name})
				require.NoError(t, err)
				m, err := llama.Open(path)
				require.NoError(t, err)
				assert.Equal(t, m.Parameters(), res.Parameters)
				checkAgreement(t, d, path)
			})
		}
	}
}

// TestRuntimePreloadedModel starts the runtime host agent holding a model
// from boot: it generates the reference tokens without an upload, keeps
// the model across a RESET, and an upload replaces it.
func TestRuntimePreloadedModel(t *testing.T) {
	_, d := hostDevice(t, buildHostRuntime(t), bootModel(t, "tiny-q4_0.gguf")...)
	ctx := t.Context()
	checkAgreement(t, d, fixtures.Model(t, "tiny-q4_0.gguf"))

	_, err := d.Reset(ctx)
	require.NoError(t, err)
	checkAgreement(t, d, fixtures.Model(t, "tiny-q4_0.gguf"))

	path := fixtures.Model(t, "tiny-q8_0.gguf")
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	_, err = d.LoadModel(ctx, bytes.NewReader(data), int64(len(data)), device.LoadOptions{})
	require.NoError(t, err)
	checkAgreement(t, d, path)

	// A reset brings the boot model back, as a reboot would.
	_, err = d.Reset(ctx)
	require.NoError(t, err)
	checkAgreement(t, d, fixtures.Model(t, "tiny-q4_0.gguf"))
}

// TestRuntimeRefusesBadUpload checks that the runtime's refusal of a file
// it cannot parse reaches the host as UNSUPPORTED_FORMAT, and that the
// board then has no model.
func TestRuntimeRefusesBadUpload(t *testing.T) {
	_, d := hostDevice(t, buildHostRuntime(t))
	junk := bytes.Repeat([]byte("not a model "), 100)
	_, err := d.LoadModel(t.Context(), bytes.NewReader(junk), int64(len(junk)), device.LoadOptions{})
	var fe *firmware.Error
	require.ErrorAs(t, err, &fe)
	assert.Equal(t, firmware.CodeUnsupportedFormat, fe.Code)
	_, err = d.Generate(t.Context(), device.GenerateRequest{MaxTokens: 4})
	require.ErrorAs(t, err, &fe)
	assert.Equal(t, firmware.CodeNoModel, fe.Code)
}
