package plan_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/tinyprof/tinyprof/plan"
)

// FuzzReadFile: a plan file is outside input; ReadFile returns a checked
// plan or an error, never a panic.
func FuzzReadFile(f *testing.F) {
	f.Add([]byte(`{"platform":"esp32s3","model":"m.gguf","format":"q8_0","weights_in":"psram","kv_in":"psram","context":512,"cores":2,"cpu_mhz":240,"tokens":64}`))
	f.Add([]byte(`{"platform":"esp32s3","model":"m.gguf","format":"q8_0","weights_in":"tape","context":512,"cores":2,"cpu_mhz":240}`))
	f.Add([]byte(`{"platform":"nope"}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, data []byte) {
		path := filepath.Join(t.TempDir(), "p.json")
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
		p, err := plan.ReadFile(path)
		if err == nil && (p.Model == "" || p.Context <= 0 || p.Cores < 1) {
			t.Fatalf("accepted an invalid plan: %+v", p)
		}
	})
}
