package tinyprof_test

import (
	"bytes"
	"testing"

	"github.com/tinyprof/tinyprof/bench"
	"github.com/tinyprof/tinyprof/device"
	"github.com/tinyprof/tinyprof/fixtures"
	"github.com/tinyprof/tinyprof/hwtest"
)

// TestExampleLease is how a test gets a board: one line, an exclusive,
// healthy, freshly reset board for the test's lifetime. In a plain go test
// it is simulated; with -tags=hardware it comes from the lab's inventory.
func TestExampleLease(t *testing.T) {
	board := hwtest.Lease(t, hwtest.Platform("esp32s3"))

	model := fixtures.Llama2C(fixtures.Stories260K, fixtures.Seed)
	if _, err := board.LoadModel(t.Context(), bytes.NewReader(model), int64(len(model)), device.LoadOptions{}); err != nil {
		t.Fatal(err)
	}
	g, err := board.Generate(t.Context(), device.GenerateRequest{Prompt: "Once upon a time", MaxTokens: 16})
	if err != nil {
		t.Fatal(err)
	}
	if len(g.Tokens) != 16 {
		t.Fatalf("got %d tokens, want 16", len(g.Tokens))
	}
	t.Logf("%s: first token after %v, %.1f tok/s by the board's clock", board.Entry.ID, g.TTFT(), g.DecodeTokensPerSecond())
}

// BenchmarkExampleLease is the same board as a benchmark:
// `go test -run '^$' -bench ExampleLease -count 10 > new.txt`, then
// `benchstat old.txt new.txt`.
func BenchmarkExampleLease(b *testing.B) {
	board := hwtest.Lease(b, hwtest.Platform("esp32s3"))
	model := fixtures.Llama2C(fixtures.Stories260K, fixtures.Seed)
	b.Run(bench.Name("esp32s3", "stories260k", "f32", 32), func(b *testing.B) {
		bench.Generate(b, board, model, bench.Tokens(32))
	})
}
