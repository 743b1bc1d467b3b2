package runtime

import (
	"bytes"
	"encoding/hex"
	"os/exec"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tinyprof/tinyprof/fixtures"
	"github.com/tinyprof/tinyprof/model/llama"
)

// portRun is the parsed output of host/port_main.c.
type portRun struct {
	lines  map[string][]int // first word → the numbers after it
	tokens []uint32
}

// portRequest is one rt-port invocation.
type portRequest struct {
	file                           string
	modelCap, arena, ctxMax, chunk int
	flash                          bool
	maxTokens, temp, topP, topK    int
	seed                           uint32
	prompt                         string
}

func drivePort(tb testing.TB, q portRequest) portRun {
	tb.Helper()
	bin := build(tb, "rt-port", true, append([]string{"host/port_main.c", "tp_runtime_port.c"}, runtimeSrcs...), "-O1", "-g", "-I../agent")
	p := "-"
	if q.prompt != "" {
		p = hex.EncodeToString([]byte(q.prompt))
	}
	flash := "0"
	if q.flash {
		flash = "1"
	}
	args := []string{q.file, strconv.Itoa(q.modelCap), strconv.Itoa(q.arena), strconv.Itoa(q.ctxMax), strconv.Itoa(q.chunk), flash,
		strconv.Itoa(q.maxTokens), strconv.Itoa(q.temp), strconv.Itoa(q.topP), strconv.Itoa(q.topK), strconv.FormatUint(uint64(q.seed), 10), p}
	var stderr bytes.Buffer
	cmd := exec.CommandContext(tb.Context(), bin, args...)
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	require.NoError(tb, err, "rt-port %v: %s", args, stderr.Bytes())
	r := portRun{lines: map[string][]int{}}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Fields(line)
		var nums []int
		for _, w := range f[1:] {
			if n, err := strconv.Atoi(w); err == nil {
				nums = append(nums, n)
			}
		}
		if f[0] == "tok" {
			r.tokens = append(r.tokens, uint32(nums[0]))
			continue
		}
		r.lines[f[0]] = nums
	}
	return r
}

// The protocol's error codes (tinyprof_port.h).
const (
	tpOK               = 0
	tpOutOfMemory      = 1
	tpModelTooLarge    = 2
	tpUnsupported      = 4
	tpBadRequest       = 8
	tpNoModel          = 9
	kvBytesStories260K = 5 * 2 * 32 * 4 // layers × (K+V) × kv_dim × float32, per position
)

// TestPortMatchesGo drives the agent hooks as the agent does, uploading in
// chunks and preloaded as flash, and checks the tokens against the Go
// reference, the reported model, KV and arena figures, and the stop at a
// full context.
func TestPortMatchesGo(t *testing.T) {
	path := fixtures.Model(t, "stories260k-q8_0.gguf")
	m, err := llama.Open(path)
	require.NoError(t, err)
	tests := []struct {
		name              string
		flash             bool
		ctxMax, maxTokens int
		temp, topP, topK  int
		seed              uint32
		prompt            string
		wantTokens        int
	}{
		{name: "upload greedy", ctxMax: 64, maxTokens: 20, prompt: "Hello", wantTokens: 20},
		{name: "flash sampled", flash: true, ctxMax: 64, maxTokens: 20, temp: 900, topP: 950, seed: 3, prompt: "Hi", wantTokens: 20},
		{name: "upload top-k", ctxMax: 0, maxTokens: 16, temp: 1000, topK: 5, seed: 11, prompt: "ab", wantTokens: 16},
		{name: "context full", ctxMax: 8, maxTokens: 100, prompt: "abc", wantTokens: 8 - 4 + 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := drivePort(t, portRequest{file: path, modelCap: 1 << 20, arena: 1 << 20, ctxMax: tc.ctxMax, chunk: 1000, flash: tc.flash,
				maxTokens: tc.maxTokens, temp: tc.temp, topP: tc.topP, topK: tc.topK, seed: tc.seed, prompt: tc.prompt})
			want, err := m.Generate(t.Context(), []byte(tc.prompt), llama.Options{MaxTokens: tc.maxTokens, Context: tc.ctxMax,
				Temperature: float32(tc.temp) / 1000, TopP: float32(tc.topP) / 1000, TopK: tc.topK, Seed: tc.seed})
			require.NoError(t, err)
			require.Len(t, want, tc.wantTokens)
			if diff := cmp.Diff(want, got.tokens); diff != "" {
				t.Errorf("tokens (-want +got):\n%s", diff)
			}
			if !tc.flash {
				assert.Equal(t, []int{tpOK, 2, 455776, int(m.Parameters())}, got.lines["end"], "end: code, region (PSRAM), bytes, parameters")
			} else {
				assert.Equal(t, []int{1, 0}, got.lines["init"], "init: loaded, error")
			}
			ctx := tc.ctxMax
			if ctx == 0 {
				ctx = 512
			}
			start := got.lines["start"]
			require.Len(t, start, 5)
			assert.Equal(t, []int{tpOK, len(tc.prompt) + 1}, start[:2], "start: code, prompt tokens")
			assert.Equal(t, ctx*kvBytesStories260K, start[3], "KV bytes")
			assert.GreaterOrEqual(t, start[2], start[3], "arena peak holds the KV cache")
			stop := got.lines["stop"]
			wantStop := 1 // the loop ended at max_tokens
			if tc.wantTokens < tc.maxTokens {
				wantStop = 2 // gen_next said the context is full
			}
			assert.Equal(t, wantStop, stop[0], "stop code")
		})
	}
}

// TestPortRefusals checks the error codes the hooks give the agent.
func TestPortRefusals(t *testing.T) {
	path := fixtures.Model(t, "stories260k.bin")
	base := portRequest{file: path, modelCap: 2 << 20, arena: 1 << 20, ctxMax: 16, chunk: 4096, maxTokens: 4}
	t.Run("model larger than the buffer", func(t *testing.T) {
		q := base
		q.modelCap = 1 << 20
		assert.Equal(t, []int{tpModelTooLarge}, drivePort(t, q).lines["begin"])
	})
	t.Run("arena too small for the model", func(t *testing.T) {
		q := base
		q.arena = 16 << 10
		got := drivePort(t, q)
		assert.Equal(t, tpOutOfMemory, got.lines["end"][0])
	})
	t.Run("arena too small for top-p scratch", func(t *testing.T) {
		q := base
		greedy := drivePort(t, q)
		require.Equal(t, tpOK, greedy.lines["start"][0])
		q.arena = greedy.lines["start"][2] // exactly the greedy peak
		require.Equal(t, tpOK, drivePort(t, q).lines["start"][0], "greedy fits its own peak")
		q.temp, q.topP = 800, 900
		assert.Equal(t, tpOutOfMemory, drivePort(t, q).lines["start"][0])
	})
	t.Run("prompt longer than the context", func(t *testing.T) {
		q := base
		q.prompt = strings.Repeat("x", 16)
		assert.Equal(t, tpBadRequest, drivePort(t, q).lines["start"][0])
	})
	t.Run("not a model", func(t *testing.T) {
		q := base
		q.file = fixtures.Model(t, "alltypes.gguf")
		assert.Equal(t, tpUnsupported, drivePort(t, q).lines["end"][0])
	})
	t.Run("unsupported tensor type", func(t *testing.T) {
		q := base
		q.file = fixtures.Model(t, "stories260k-q5_0.gguf")
		assert.Equal(t, tpUnsupported, drivePort(t, q).lines["end"][0])
	})
	t.Run("invalid flash model", func(t *testing.T) {
		q := base
		q.file, q.flash = fixtures.Model(t, "alltypes.gguf"), true
		got := drivePort(t, q)
		assert.Equal(t, []int{0, rtUnsupported}, got.lines["init"], "init: loaded, error")
		assert.Equal(t, tpNoModel, got.lines["start"][0], "generation without a model")
	})
}
