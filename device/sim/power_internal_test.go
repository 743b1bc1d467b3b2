package sim

import (
	"math"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tinyprof/tinyprof/platform"
	"github.com/tinyprof/tinyprof/power/powermodel"
)

// TestGenerationRecordedInPieces: a generation recorded in pieces (a
// METRICS reading between its tokens) has the energy of one recorded
// whole, and its GPIO pulses only at its true start and end.
func TestGenerationRecordedInPieces(t *testing.T) {
	plat, err := platform.Lookup("esp32s3")
	require.NoError(t, err)
	m, err := powermodel.Board(plat)
	require.NoError(t, err)

	// Reads at a constant rate, so that pieces and the whole agree exactly.
	rd := func(us uint64) reads { return reads{psram: float64(us) * 40} }
	var pieces powerState
	pieces.beginGen(1_000)
	pieces.progress(500, rd(500))
	assert.Equal(t, uint64(1_500), pieces.record(), "recorded up to its progress")
	pieces.progress(700, rd(700)) // a token later, not yet recorded
	assert.Equal(t, uint64(1_700), pieces.record())
	assert.Equal(t, uint64(1_700), pieces.record(), "recording twice adds nothing")
	require.Len(t, pieces.segs, 2)

	// While running, the end is not known: no end pulse at a piece's edge.
	start, end := pieces.genEdges(1_700, true)
	assert.Equal(t, uint64(1_000), start)
	assert.Equal(t, uint64(math.MaxUint64), end)

	pieces.progress(1_200, rd(1_200))
	pieces.record()
	require.Len(t, pieces.segs, 3)

	var whole powerState
	whole.beginGen(1_000)
	whole.add(1_000, 1_200, rd(1_200), true)

	assert.InEpsilon(t, whole.energy(&m, 0, 5_000), pieces.energy(&m, 0, 5_000), 1e-12)
	for _, at := range []uint64{1_000, 1_499, 1_500, 1_501, 1_700, 2_199, 2_200, 2_500} {
		s, e := pieces.genEdges(at, false)
		assert.Equal(t, [2]uint64{1_000, 2_200}, [2]uint64{s, e}, "edges seen at %d µs", at)
		_, gen := pieces.at(at)
		_, wantGen := whole.at(at)
		assert.Equal(t, wantGen, gen, "GPIO level at %d µs", at)
	}
}
