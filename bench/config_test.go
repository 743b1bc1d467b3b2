package bench

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestConfigBlock: a block writes the keys it has, an empty line only to
// clear a key the block before set, and the Unit lines of the metrics its
// results can carry: no energy units without a power source, no
// instruction counts off an emulated board.
func TestConfigBlock(t *testing.T) {
	simCfg := map[string]string{"board": "sim-esp32s3", "simulated": "true", "emulated": "false", "power-source": "none"}
	base := "Unit sec/op better=lower\nUnit tok/s better=higher\nUnit prefill-tok/s better=higher\nUnit ttft-sec better=lower\n" +
		"Unit itl-p50-sec better=lower\nUnit itl-p95-sec better=lower\nUnit itl-p99-sec better=lower\nUnit peak-heap-B better=lower\n" +
		"Unit peak-psram-B better=lower\nUnit free-heap-after-B better=higher\nUnit min-free-heap-gen-B better=higher\n"
	for _, tc := range []struct {
		name     string
		cfg      map[string]string
		prev     map[string]string
		declared map[string]bool
		want     string
	}{
		{"simulated, no meter", simCfg, nil, map[string]bool{},
			"board: sim-esp32s3\nsimulated: true\nemulated: false\npower-source: none\n" + base},
		{"a power source", map[string]string{"board": "b", "power-source": "meter ppk2"}, nil, map[string]bool{},
			"board: b\npower-source: meter ppk2\n" + base + "Unit W better=lower\nUnit J/tok better=lower\n"},
		{"emulated", map[string]string{"board": "emu-mps2-an385", "emulated": "QEMU mps2-an385, instruction-count time"}, nil, map[string]bool{},
			"board: emu-mps2-an385\nemulated: QEMU mps2-an385, instruction-count time\n" +
				strings.Replace(base, "Unit prefill-tok/s better=higher\n", "Unit prefill-tok/s better=higher\nUnit instr/tok better=lower\nUnit prefill-instr/tok better=lower\n", 1)},
		{"clears what the block before set", simCfg, map[string]string{"board": "mlperf-1", "valid": "true"}, nil,
			"board: sim-esp32s3\nsimulated: true\nemulated: false\npower-source: none\nvalid:\n"},
		{"declares a unit once", map[string]string{"board": "b", "power-source": "meter ppk2"}, nil,
			func() map[string]bool {
				m := map[string]bool{}
				for _, u := range units {
					m[u.Name] = u.Name != "J/tok"
				}
				return m
			}(),
			"board: b\npower-source: meter ppk2\nUnit J/tok better=lower\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := configBlock(tc.cfg, tc.prev, tc.declared)
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("configBlock (-want +got):\n%s", diff)
			}
		})
	}
}

// TestWriteConfigHasNoEmptyLines: the CLI's --format bench starts a file,
// where an empty line would clear nothing.
func TestWriteConfigHasNoEmptyLines(t *testing.T) {
	var b strings.Builder
	if err := WriteConfig(&b, map[string]string{"board": "sim-esp32s3", "power-source": "none", "emulated": "false"}); err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(strings.TrimSuffix(b.String(), "\n"), "\n") {
		if strings.HasSuffix(l, ":") {
			t.Errorf("empty configuration line %q in:\n%s", l, b.String())
		}
	}
}
