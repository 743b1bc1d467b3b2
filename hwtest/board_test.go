package hwtest

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tinyprof/tinyprof/lab"
	"github.com/tinyprof/tinyprof/power"
)

// A leased simulated board exposes the simulator behind it and opens the
// simulated meter its entry binds; one with no meter says so.
func TestBoardMeter(t *testing.T) {
	boards := simBoards("esp32s3", "metered", "bare")
	boards[0].Meter = &lab.MeterBinding{Kind: "ppk2", LogicBit: 2}
	l := testLab(t, boards...)

	b, err := l.Acquire(t.Context(), "TestBoardMeter", ID("metered"))
	require.NoError(t, err)
	defer b.Release()
	require.NotNil(t, b.Sim(), "a simulated board's simulator is reachable")
	m := b.Meter(t)
	assert.Equal(t, "ppk2", m.Info().Kind)
	assert.True(t, m.Info().Simulated)
	require.NoError(t, m.Start(t.Context()))
	buf := make([]power.Sample, 16)
	n, err := m.Read(t.Context(), buf)
	require.NoError(t, err)
	require.Positive(t, n)
	require.NoError(t, m.Stop(t.Context()))

	bare, err := l.Acquire(t.Context(), "TestBoardMeter", ID("bare"))
	require.NoError(t, err)
	defer bare.Release()
	_, _, err = bare.OpenMeter(t.Context())
	require.ErrorIs(t, err, lab.ErrNoMeter)
}
