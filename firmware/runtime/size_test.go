package runtime

import (
	"os/exec"
	"regexp"
	"strconv"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestCrossBuildSize cross-builds the runtime for a Cortex-M4F with
// size.sh (which fails on any warning) and holds it to its budget: the
// full runtime under 9 KiB of flash, a runtime of one format family
// (llama2.c, GGUF with ggml's types, or GGUF with the group-wise types)
// plus the agent under the 12 KiB aim, and under 2 KiB of static RAM besides the
// model, KV cache and arena.
func TestCrossBuildSize(t *testing.T) {
	if _, err := exec.LookPath("arm-none-eabi-gcc"); err != nil {
		t.Skip("arm-none-eabi-gcc not on PATH: apt-get install gcc-arm-none-eabi to check the runtime's Cortex-M4 size")
	}
	measure := func(flags ...string) (runtime, ram, together int) {
		out, err := exec.CommandContext(t.Context(), "./size.sh", flags...).CombinedOutput()
		require.NoError(t, err, "%s", out)
		t.Logf("size.sh %v\n%s", flags, out)
		get := func(re string) int {
			m := regexp.MustCompile(re).FindSubmatch(out)
			require.NotNil(t, m, "%s in size.sh output", re)
			n, err := strconv.Atoi(string(m[1]))
			require.NoError(t, err)
			return n
		}
		return get(`runtime +flash: text +(\d+)`), get(`runtime +flash: text +\d+ +RAM: data\+bss +(\d+)`), get(`together flash: text +(\d+)`)
	}
	full, ram, _ := measure()
	assert.Less(t, full, 9<<10, "runtime flash bytes, every format")
	assert.Less(t, ram, 2<<10, "runtime static RAM bytes")
	if testing.Short() {
		return
	}
	// The families: llama2.c; GGUF with ggml's Q8_0 and Q4_0; GGUF with
	// tinyprof's group-wise types.
	for _, only := range [][]string{{"-DTP_RT_NO_GGUF"}, {"-DTP_RT_NO_LLAMA2C", "-DTP_RT_NO_GROUPWISE"}, {"-DTP_RT_NO_LLAMA2C", "-DTP_RT_NO_GGML_QUANTS"}} {
		_, _, together := measure(only...)
		assert.Less(t, together, 12<<10, "runtime %v plus agent flash bytes", only)
	}
}
