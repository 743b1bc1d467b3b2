package chart_test

import (
	"bytes"
	"image/png"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/tinyprof/tinyprof/bench/chart"
	"github.com/tinyprof/tinyprof/bench/report"
	"github.com/tinyprof/tinyprof/device"
	"github.com/tinyprof/tinyprof/device/sim"
	"github.com/tinyprof/tinyprof/fixtures"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestWrite draws a simulated ESP32-S3's profile: four files, named as the
// CLI's --plot prints them, the PNGs decodable, the titles labelled
// simulated, and a PSRAM panel for a board with PSRAM.
func TestWrite(t *testing.T) {
	tr, b, err := sim.Pipe(sim.Options{Platform: "esp32s3"})
	require.NoError(t, err)
	dev := device.New(tr, device.Options{})
	t.Cleanup(func() { dev.Close(); b.Close() })
	_, err = dev.Hello(t.Context())
	require.NoError(t, err)
	model := fixtures.Llama2C(fixtures.Stories260K, fixtures.Seed)
	rep, err := report.Profile(t.Context(), dev, bytes.NewReader(model), int64(len(model)), report.Config{Runs: 3, Tokens: 8})
	require.NoError(t, err)

	dir := filepath.Join(t.TempDir(), "plots")
	paths, err := chart.Write(dir, rep)
	require.NoError(t, err)
	want := []string{"latency.svg", "latency.png", "heap.svg", "heap.png"}
	for i := range want {
		want[i] = filepath.Join(dir, want[i])
	}
	if d := cmp.Diff(want, paths); d != "" {
		t.Fatalf("paths (-want +got):\n%s", d)
	}
	for _, p := range paths {
		data, err := os.ReadFile(p)
		require.NoError(t, err)
		if filepath.Ext(p) == ".png" {
			_, err := png.Decode(bytes.NewReader(data))
			assert.NoError(t, err, p)
			continue
		}
		assert.Contains(t, string(data), "simulated: modelled, not measured", p)
	}
	heap, err := os.ReadFile(filepath.Join(dir, "heap.svg"))
	require.NoError(t, err)
	assert.Contains(t, string(heap), "free PSRAM")
}
