package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/stretchr/testify/require"

	"github.com/tinyprof/tinyprof/fixtures"
	"github.com/tinyprof/tinyprof/lab"
	"github.com/tinyprof/tinyprof/model/llama"
)

// TestBenchmarkEmulateYieldsReferenceTokens: `benchmark --emulate` runs our
// runtime on QEMU and its --json profile carries the tokens model/llama
// (the Go reference) produces for the same model, prompt and sampling, run
// by run: every fixture format greedy, and one sampled.
func TestBenchmarkEmulateYieldsReferenceTokens(t *testing.T) {
	lab.NeedEmulation(t)
	tests := []struct {
		model       string
		temperature float32 // as the protocol carries it: permille / 1000
		topP        float32
	}{
		{"tiny.bin", 0, 0},       // llama2.c legacy f32
		{"tiny-v1.bin", 0, 0},    // llama2.c v1 f32
		{"tiny-q80.bin", 0, 0},   // llama2.c v2 int8, group-wise
		{"tiny.gguf", 0, 0},      // GGUF F32
		{"tiny-q8_0.gguf", 0, 0}, // GGUF Q8_0
		{"tiny-q4_0.gguf", 0, 0}, // GGUF Q4_0
		{"tiny-q4_0.gguf", 0.8, 0.9},
	}
	for _, tt := range tests {
		t.Run(tt.model+"/t="+strconv.FormatFloat(float64(tt.temperature), 'g', -1, 32), func(t *testing.T) {
			t.Parallel() // each run has its own QEMU; the f32 uploads dominate
			path := fixtures.Model(t, tt.model)
			out := filepath.Join(t.TempDir(), "profile.json")
			args := []string{"benchmark", "--emulate", "mps2-an386", "--model", path, "--runs", "2", "--tokens", "12",
				"--prompt", "Once", "--json", "--output", out}
			if tt.temperature > 0 {
				args = append(args, "--temperature", strconv.FormatFloat(float64(tt.temperature), 'g', -1, 32),
					"--top-p", strconv.FormatFloat(float64(tt.topP), 'g', -1, 32))
			}
			var stdout, stderr syncBuffer
			stdout.mu, stderr.mu = make(chan struct{}, 1), make(chan struct{}, 1)
			root := newRoot(&stdout, &stderr)
			root.SetArgs(args)
			require.NoError(t, root.ExecuteContext(t.Context()), "stderr: %s", stderr.String())

			var prof struct {
				Runs []struct {
					Seed     uint32   `json:"seed"`
					TokenIDs []uint32 `json:"token_ids"`
				} `json:"runs"`
			}
			b, err := os.ReadFile(out)
			require.NoError(t, err)
			require.NoError(t, json.Unmarshal(b, &prof))
			require.Len(t, prof.Runs, 2)

			m, err := llama.Open(path)
			require.NoError(t, err)
			for i, r := range prof.Runs {
				want, err := m.Generate(t.Context(), []byte("Once"), llama.Options{MaxTokens: 12,
					Temperature: tt.temperature, TopP: tt.topP, Seed: r.Seed})
				require.NoError(t, err)
				if d := cmp.Diff(want, r.TokenIDs); d != "" {
					t.Errorf("run %d (seed %d): tokens differ from model/llama's (-want +got):\n%s", i, r.Seed, d)
				}
			}
		})
	}
}
