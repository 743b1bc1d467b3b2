package runtime

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tinyprof/tinyprof/fixtures"
	"github.com/tinyprof/tinyprof/model"
	"github.com/tinyprof/tinyprof/model/llama"
)

// arenaBig holds any fixture at its full context.
const arenaBig = 4 << 20

// smallMHA is a model unlike Stories260K in the ways the runtime branches
// on: multi-head (not grouped) attention, a separate classifier, a hidden
// size that int8 groups straddle, and a vocabulary smaller than 256 so
// prompt bytes wrap.
var smallMHA = fixtures.Llama2CConfig{
	Llama2CConfig: model.Llama2CConfig{Dim: 64, HiddenDim: 96, Layers: 2, Heads: 4, KVHeads: 4, Vocab: 200, SeqLen: 48, Shared: false},
	GroupSize:     32,
}

// modelFile is one model file of a test.
type modelFile struct {
	name string
	path string
}

// modelFiles returns every fixture format of Stories260K and of smallMHA,
// with group-wise files at each bit width and symmetry.
func modelFiles(tb testing.TB) []modelFile {
	tb.Helper()
	var out []modelFile
	for _, n := range []string{"stories260k.bin", "stories260k-v1.bin", "stories260k-q80.bin", "stories260k.gguf", "stories260k-q8_0.gguf", "stories260k-q4_0.gguf",
		"stories260k-g2s64.gguf", "stories260k-g4a32.gguf"} {
		out = append(out, modelFile{n, fixtures.Model(tb, n)})
	}
	dir := tb.TempDir()
	write := func(name string, gen func(*bytes.Buffer) error) {
		var b bytes.Buffer
		require.NoError(tb, gen(&b), name)
		p := filepath.Join(dir, name)
		require.NoError(tb, os.WriteFile(p, b.Bytes(), 0o644))
		out = append(out, modelFile{"mha-" + name, p})
	}
	for v, name := range []string{"legacy.bin", "v1.bin", "v2.bin"} {
		write(name, func(b *bytes.Buffer) error { return fixtures.WriteLlama2C(b, smallMHA, v, fixtures.Seed+1) })
	}
	g8a32, err := model.GroupwiseType(model.Groupwise{Bits: 8, Group: 32, Asym: true})
	require.NoError(tb, err)
	for _, t := range []model.Type{model.TypeF32, model.TypeQ8_0, model.TypeQ4_0, g8a32} {
		write(t.String()+".gguf", func(b *bytes.Buffer) error {
			return fixtures.WriteGGUF(b, smallMHA, fixtures.GGUFOptions{Type: t}, fixtures.Seed+1)
		})
	}
	return out
}

// reference runs the Go twin on q and returns its tokens and each step's
// logits as bit patterns.
func reference(tb testing.TB, q request) ([]uint32, [][]uint32) {
	tb.Helper()
	m, err := llama.Open(q.file)
	require.NoError(tb, err)
	var logits [][]uint32
	toks, err := m.Generate(tb.Context(), q.prompt, llama.Options{
		MaxTokens: q.steps, Context: q.ctx,
		Temperature: float32(q.temp) / 1000, TopP: float32(q.topP) / 1000, TopK: q.topK, Seed: q.seed,
		Step: func(l []float32) { logits = append(logits, bits(l)) },
	})
	require.NoError(tb, err)
	return toks, logits
}

// TestTokensAndLogitsMatchGo checks, for every fixture model and format,
// that the C runtime built at -O0 and -O2 gives exactly the Go reference's
// tokens and logits (bit for bit: the tolerance is zero), greedy (32
// tokens) and sampled (16 tokens each with temperature, top-k, top-p).
func TestTokensAndLogitsMatchGo(t *testing.T) {
	bins := map[string]string{"-O0": buildDriver(t, "-O0", false), "-O2": buildDriver(t, "-O2", false)}
	files := modelFiles(t)
	samplings := []struct {
		name             string
		temp, topP, topK int
		seed             uint32
		prompt           string
		steps            int
		unoptimised      bool // also check the -O0 build
	}{
		{name: "greedy", prompt: "Once upon a time", steps: 32, unoptimised: true},
		{name: "greedy-bos-only", steps: 8},
		{name: "t1.0", temp: 1000, seed: 42, prompt: "hi", steps: 16},
		{name: "t0.8-p0.9", temp: 800, topP: 900, seed: 7, prompt: "The cat", steps: 16, unoptimised: true},
		{name: "t1.2-k40", temp: 1200, topK: 40, seed: 0, prompt: "x", steps: 16},
		{name: "t0.7-p0.5-k8", temp: 700, topP: 500, topK: 8, seed: 0xffffffff, prompt: "\x00\xff", steps: 16},
	}
	for _, f := range files {
		for i, s := range samplings {
			t.Run(f.name+"/"+s.name, func(t *testing.T) {
				if testing.Short() && i > 2 && strings.HasPrefix(f.name, "mha-") {
					t.Skip("-short: the second model runs greedy and one sampled case")
				}
				q := request{file: f.path, arena: arenaBig, steps: s.steps, temp: s.temp, topP: s.topP, topK: s.topK,
					seed: s.seed, prompt: []byte(s.prompt), logits: true}
				wantToks, wantLogits := reference(t, q)
				require.Len(t, wantToks, s.steps)
				for opt, bin := range bins {
					if opt == "-O0" && (!s.unoptimised || testing.Short()) {
						continue
					}
					got := drive(t, bin, q)
					require.Equal(t, 0, got.load, "%s: load", opt)
					require.Equal(t, 0, got.start, "%s: start", opt)
					assert.Equal(t, len(s.prompt)+1, got.promptToks, "%s: prompt tokens", opt)
					if diff := cmp.Diff(wantToks, got.tokens); diff != "" {
						t.Errorf("%s: tokens (-want +got):\n%s", opt, diff)
					}
					require.Len(t, got.logits, len(wantLogits), opt)
					for i := range wantLogits {
						if d := logitDiff(wantLogits[i], got.logits[i]); d != "" {
							t.Errorf("%s: step %d: %s", opt, i, d)
							break
						}
					}
				}
			})
		}
	}
}

// TestContractionChangesLogits shows that the agreement test can fail: the
// same C built with fused multiply-adds allowed (-ffp-contract=fast on a
// CPU with FMA) gives different logits, which is why README.md requires
// -ffp-contract=off. It skips where the compiler does not fuse.
func TestContractionChangesLogits(t *testing.T) {
	fused := build(t, "rt-host-fused", false, append([]string{"host/main.c"}, runtimeSrcs...), "-O2", "-march=native", "-ffp-contract=fast")
	q := request{file: fixtures.Model(t, "stories260k.bin"), arena: arenaBig, steps: 2, logits: true}
	_, want := reference(t, q)
	got := drive(t, fused, q)
	require.Len(t, got.logits, len(want))
	for i := range want {
		if logitDiff(want[i], got.logits[i]) != "" {
			return
		}
	}
	t.Skip("this compiler and CPU did not fuse multiply-adds, so contraction cannot be shown to matter here")
}
