package tinyprof_test

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tinyprof/tinyprof/bench"
	"github.com/tinyprof/tinyprof/device"
	"github.com/tinyprof/tinyprof/fixtures"
	"github.com/tinyprof/tinyprof/hwtest"
)

// The functions between the //readme:begin and //readme:end lines below are
// quoted in README.md verbatim; TestReadmeSnippetsCompile checks that every Go block there is
// one of them, so the README shows code that builds and runs.

//readme:begin TestGenerate
func TestGenerate(t *testing.T) {
	dev := hwtest.Lease(t, hwtest.Platform("esp32s3")) // exclusive, healthy, freshly reset
	model := fixtures.Llama2C(fixtures.Stories260K, fixtures.Seed)
	_, err := dev.LoadModel(t.Context(), bytes.NewReader(model), int64(len(model)), device.LoadOptions{Name: "stories260k.bin"})
	require.NoError(t, err)

	g, err := dev.Generate(t.Context(), device.GenerateRequest{Prompt: "Once upon a time", MaxTokens: 32})
	require.NoError(t, err)
	require.Len(t, g.Tokens, 32)
	t.Logf("TTFT %v, %.1f tok/s by the board's clock", g.TTFT(), g.DecodeTokensPerSecond())
}

//readme:end

//readme:begin BenchmarkStories260K
func BenchmarkStories260K(b *testing.B) {
	board := hwtest.Lease(b, hwtest.Platform("esp32s3"))
	model := fixtures.Llama2C(fixtures.Stories260K, fixtures.Seed)
	b.Run(bench.Name("esp32s3", "stories260k", "f32", 64), func(b *testing.B) {
		bench.Generate(b, board, model, bench.Tokens(64))
	})
}

//readme:end

// TestReadmeSnippetsCompile: every ```go block of README.md is, line for
// line, one of the quoted functions above, which go test compiles and runs.
func TestReadmeSnippetsCompile(t *testing.T) {
	readme, err := os.ReadFile("README.md")
	require.NoError(t, err)
	src, err := os.ReadFile(filepath.Join("readme_test.go"))
	require.NoError(t, err)

	quoted := map[string]bool{}
	var name string
	var body []string
	for _, line := range strings.Split(string(src), "\n") {
		switch {
		case strings.HasPrefix(line, "//readme:begin "):
			name, body = strings.TrimPrefix(line, "//readme:begin "), nil
		case line == "//readme:end":
			require.NotEmpty(t, name, "an end marker without a begin")
			quoted[strings.TrimSpace(strings.Join(body, "\n"))] = true
			name = ""
		case name != "":
			body = append(body, line)
		}
	}
	require.Empty(t, name, "quote %s has no end marker", name)
	require.NotEmpty(t, quoted)

	blocks := 0
	for _, part := range strings.Split(string(readme), "```go\n")[1:] {
		block, _, ok := strings.Cut(part, "```")
		require.True(t, ok, "an unterminated go block in README.md")
		blocks++
		if !quoted[strings.TrimSpace(block)] {
			t.Errorf("README.md has a Go block that is not quoted from readme_test.go, so nothing compiles it:\n%s", block)
		}
	}
	require.Positive(t, blocks, "README.md has Go blocks")
}
