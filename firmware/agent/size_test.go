package agent

import (
	"os/exec"
	"regexp"
	"strconv"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestCrossBuildSize runs size.sh when arm-none-eabi-gcc is installed and
// holds the agent to its budget: under 8 KiB of flash and 2 KiB of RAM
// besides the configured buffers.
func TestCrossBuildSize(t *testing.T) {
	if _, err := exec.LookPath("arm-none-eabi-gcc"); err != nil {
		t.Skip("arm-none-eabi-gcc not on PATH: apt-get install gcc-arm-none-eabi to check the agent's Cortex-M4 size")
	}
	out, err := exec.CommandContext(t.Context(), "./size.sh").CombinedOutput()
	require.NoError(t, err, "%s", out)
	t.Logf("\n%s", out)
	text := regexp.MustCompile(`flash: text +(\d+)`).FindAllSubmatch(out, -1)
	state := regexp.MustCompile(`state +(\d+)`).FindAllSubmatch(out, -1)
	require.NotEmpty(t, text, "size.sh output")
	require.NotEmpty(t, state, "size.sh output")
	for _, m := range text {
		n, _ := strconv.Atoi(string(m[1]))
		assert.Less(t, n, 8<<10, "flash bytes")
	}
	for _, m := range state {
		n, _ := strconv.Atoi(string(m[1]))
		assert.Less(t, n, 2<<10, "RAM bytes besides buffers")
	}
}
