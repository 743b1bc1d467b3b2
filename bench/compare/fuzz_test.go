package compare_test

import (
	"io"
	"strings"
	"testing"

	"github.com/tinyprof/tinyprof/bench/compare"
)

// FuzzCompare feeds Compare two files of outside bytes: it may refuse
// them, but must not panic, and a comparison it returns must write and
// gate.
func FuzzCompare(f *testing.F) {
	f.Add(goodFile, goodFile)
	f.Add(twoModels(shaA, shaB, 1000, 2000), twoModels(shaA, shaB2, 1000, 4305))
	f.Add(goodFile, strings.ReplaceAll(goodFile, "esp32s3", "esp32p4"))
	f.Add("BenchmarkX/a=1/b 1 1 ns/op\n", "BenchmarkX/a=2/b 1 1 ns/op\n")
	gates, err := compare.ParseGates("time per generation > 2x")
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, old, new string) {
		c, err := compare.Compare(strings.NewReader(old), strings.NewReader(new), "old.txt", "new.txt", compare.Options{Ignore: []string{"firmware"}})
		if err != nil {
			return
		}
		if err := c.WriteTable(io.Discard); err != nil {
			t.Fatal(err)
		}
		_, _ = c.Check(gates) // a gate on a unit the files lack is an error, not a panic
	})
}
