package hwtest

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tinyprof/tinyprof/device/eembc"
	"github.com/tinyprof/tinyprof/lab"
)

// eembcBoards returns simulated eembc inventory entries.
func eembcBoards(ids ...string) []lab.Entry {
	var out []lab.Entry
	for _, id := range ids {
		out = append(out, lab.Entry{ID: id, Platform: SimEEMBCPlatform, Sim: true, State: lab.Good, Protocol: lab.ProtocolEEMBC})
	}
	return out
}

// kwsInputs returns n kws01-sized input tensors.
func kwsInputs(n int) [][]byte {
	out := make([][]byte, n)
	for i := range out {
		out[i] = make([]byte, 490)
		for j := range out[i] {
			out[i][j] = byte(i*31 + j)
		}
	}
	return out
}

// A leased eembc board is an EEMBC client ready for an MLPerf Tiny run,
// whose figures are what the simulated DUT models; its identity reaches
// the test's attributes, and a failing test gets what it printed.
func TestLeaseEEMBCRun(t *testing.T) {
	l := testLab(t, eembcBoards("sim-eembc-a")...)
	ft := newFakeTB(t, "TestMLPerf")
	var score *eembc.Score
	var runErr error
	ft.run(func(tb testing.TB) {
		b := l.LeaseEEMBC(tb)
		score, runErr = eembc.Run(tb.Context(), b.Client, eembc.ScoreConfig{Inputs: kwsInputs(5)})
		tb.(*fakeTB).Fail()
	})
	require.False(t, ft.skipped, ft.msg)
	require.NoError(t, runErr)
	host, _ := os.Hostname()
	assert.Equal(t, map[string]string{"hwtest.board": "sim-eembc-a", "hwtest.platform": SimEEMBCPlatform,
		"hwtest.firmware": "ULPMark_for_tinyML_Firmware_V0.0.1", "hwtest.model": "kws01",
		"hwtest.simulated": "true", "hwtest.emulated": "false", "hwtest.host": host}, ft.attrs)

	assert.True(t, score.Valid, score.Problems)
	assert.Len(t, score.Windows, 5)
	assert.InDelta(t, 1e6/16760.0, score.MedianThroughput, 1e-9, "16,760 µs per inference")
	assert.InDelta(t, 16.76, score.LatencyMS, 1e-9)
	for _, w := range score.Windows {
		assert.GreaterOrEqual(t, w.ElapsedUS, uint64(10_000_000), "every window lasts 10 s by the DUT's clock")
	}

	li, err := l.Store.Inspect(t.Context(), "sim-eembc-a")
	require.NoError(t, err)
	assert.False(t, li.Held, "released in cleanup")
	assert.Equal(t, lab.Healthy, li.Health.Status)
	logs, err := filepath.Glob(filepath.Join(os.Getenv(EnvStateDir), "logs", "*", "TestMLPerf", "sim-eembc-a.log"))
	require.NoError(t, err)
	require.NotEmpty(t, logs, "the failed test's log is kept under the state directory")
	data, err := os.ReadFile(logs[len(logs)-1])
	require.NoError(t, err)
	assert.Contains(t, string(data), "m-name-dut-[tinyprof simulated]")
	assert.Contains(t, string(data), "m-lap-us-")
}
