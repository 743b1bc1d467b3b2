package cost_test

import (
	"bytes"
	"flag"
	"os"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/stretchr/testify/require"

	"github.com/tinyprof/tinyprof/platform/cost"
)

var update = flag.Bool("update", false, "rewrite the README's calibration table")

const (
	readme     = "../../README.md"
	tableBegin = "<!-- calibration table: go test ./platform/cost -run TestCalibrationTable -update -->\n"
	tableEnd   = "<!-- end of calibration table -->\n"
)

// TestCalibrationTable checks that the README's calibration table is what
// the points and the catalogue give today; -update rewrites it (as does
// tiny-profiler calibrate --markdown, to stdout).
func TestCalibrationTable(t *testing.T) {
	c, err := cost.Calibrate(cost.Points())
	require.NoError(t, err)
	var b bytes.Buffer
	require.NoError(t, cost.WriteMarkdown(&b, c))
	raw, err := os.ReadFile(readme)
	require.NoError(t, err)
	text := string(raw)
	i := strings.Index(text, tableBegin)
	j := strings.Index(text, tableEnd)
	require.True(t, i >= 0 && j > i, "README.md lacks the calibration table markers")
	if *update {
		text = text[:i+len(tableBegin)] + b.String() + text[j:]
		require.NoError(t, os.WriteFile(readme, []byte(text), 0o644))
		return
	}
	if diff := cmp.Diff(b.String(), text[i+len(tableBegin):j]); diff != "" {
		t.Errorf("README calibration table is stale; run go test ./platform/cost -run TestCalibrationTable -update (-want +got):\n%s", diff)
	}
}
