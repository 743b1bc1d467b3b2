package lab

import (
	"context"
	"io"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tinyprof/tinyprof/device/eembc/eembcsim"
)

// eembcBoards returns simulated eembc inventory entries.
func eembcBoards(ids ...string) []Entry {
	var out []Entry
	for _, id := range ids {
		out = append(out, Entry{ID: id, Platform: "stm32h7", Sim: true, State: Good, Protocol: ProtocolEEMBC})
	}
	return out
}

// eembcConnect serves eembc entries with simulated DUTs; faulty overrides
// the DUT options for some ids.
func eembcConnect(faulty map[string]eembcsim.Options) EEMBCConnectFunc {
	return func(ctx context.Context, e Entry) (io.ReadWriter, func() error, error) {
		return ConnectEEMBCSim(ctx, e, faulty[e.ID])
	}
}

// Lease never hands out an eembc board, nor LeaseEEMBC a tinyprof one.
func TestLeaseProtocolsApart(t *testing.T) {
	lab := testLab(t, append(eembcBoards("sim-eembc-a"), simBoards("esp32s3", "sim-a")...)...)

	b, err := lab.Acquire(t.Context(), "T", Request{})
	require.NoError(t, err)
	assert.Equal(t, "sim-a", b.Entry.ID)
	_, err = lab.Acquire(within(t, 200*time.Millisecond), "T", Request{})
	require.ErrorIs(t, err, ErrUnavailable, "the free eembc board does not serve a tinyprof lease")
	require.NoError(t, b.Release())

	_, err = lab.Acquire(t.Context(), "T", Request{ID: "sim-eembc-a"})
	require.ErrorIs(t, err, ErrNoMatch)
	assert.ErrorContains(t, err, "sim-eembc-a has another protocol (eembc: lease it with LeaseEEMBC)")
	_, err = lab.Acquire(t.Context(), "T", Request{Platform: "stm32h7"})
	require.ErrorIs(t, err, ErrNoMatch)

	_, err = lab.Acquire(t.Context(), "T", Request{Protocol: ProtocolEEMBC, ID: "sim-a"})
	require.ErrorIs(t, err, ErrNoMatch)
	assert.ErrorContains(t, err, "lease protocol=eembc id=sim-a: no board matches")
	assert.ErrorContains(t, err, "sim-a has another protocol (tinyprof: lease it with Lease)")
	e, err := lab.Acquire(t.Context(), "T", Request{Protocol: ProtocolEEMBC})
	require.NoError(t, err)
	require.Nil(t, e.Conn, "an eembc board has a client, not a tinyprof connection")
	require.NotNil(t, e.Client)
	assert.Equal(t, "sim-eembc-a", e.Entry.ID)
	assert.Equal(t, "tinyprof simulated", e.DUTName)
	assert.Equal(t, "kws01", e.DUTProfile.Model)
	require.NoError(t, e.Release())
	require.NoError(t, e.Release(), "Release is idempotent")
}

// An eembc board that does not answer name% is quarantined with the
// machinery tinyprof boards use, and the lease goes to the next board;
// the health-check command treats it alike.
func TestEEMBCQuarantine(t *testing.T) {
	lab := journalLab(t, nil, eembcBoards("eembc-silent", "eembc-good")...)
	lab.ConnectEEMBC = eembcConnect(map[string]eembcsim.Options{"eembc-silent": {Silent: true}})
	lab.EEMBC.Timeout = 200 * time.Millisecond
	ctx := t.Context()

	b, err := lab.Acquire(ctx, "TestQ", Request{Protocol: ProtocolEEMBC})
	require.NoError(t, err)
	assert.Equal(t, "eembc-good", b.Entry.ID)
	require.NoError(t, b.Release())
	li, err := lab.Store.Inspect(ctx, "eembc-silent")
	require.NoError(t, err)
	assert.False(t, li.Held)
	assert.Equal(t, Quarantined, li.Health.Status)
	assert.Equal(t, 1, li.Health.Failures)
	assert.Contains(t, li.Health.Reason, "name%: eembc: name: no m-ready")

	_, err = lab.Acquire(ctx, "TestQ2", Request{Protocol: ProtocolEEMBC, ID: "eembc-silent"})
	require.ErrorIs(t, err, ErrQuarantined)

	res, err := lab.HealthCheck(ctx, HealthOptions{})
	require.NoError(t, err)
	require.Len(t, res, 2)
	assert.Equal(t, VerdictBad, res[0].Verdict)
	assert.Equal(t, VerdictGood, res[1].Verdict, res[1].Reason)
	assert.Equal(t, "ULPMark for tinyML Firmware V0.0.1", res[1].Firmware)
	assert.True(t, res[1].Simulated)

	// Fixed, and due a recheck: it returns to service.
	lab.ConnectEEMBC = nil
	lab.RecheckAfter = time.Nanosecond
	b, err = lab.Acquire(ctx, "TestQ3", Request{Protocol: ProtocolEEMBC, ID: "eembc-silent"})
	require.NoError(t, err)
	require.NoError(t, b.Release())
}

// The firmware an eembc entry names is checked against profile%.
func TestEEMBCFirmwareMismatch(t *testing.T) {
	e := eembcBoards("eembc-fw")[0]
	e.Firmware = "ULPMark for tinyML Firmware V1"
	lab := testLab(t, e)
	lab.EEMBC.Timeout = 200 * time.Millisecond
	_, err := lab.Acquire(t.Context(), "T", Request{Protocol: ProtocolEEMBC})
	require.ErrorIs(t, err, ErrQuarantined)
	li, err := lab.Store.Inspect(t.Context(), "eembc-fw")
	require.NoError(t, err)
	assert.Contains(t, li.Health.Reason, `board runs firmware "ULPMark for tinyML Firmware V0.0.1", the inventory expects "ULPMark for tinyML Firmware V1": reflash it`)
}
