package hwtest

import (
	"strings"
	"testing"
	"time"

	"github.com/tinyprof/tinyprof/device"
	"github.com/tinyprof/tinyprof/device/eembc"
	"github.com/tinyprof/tinyprof/lab"
)

// EEMBCBoard is a leased MLPerf Tiny board, one whose inventory entry says
// `protocol: eembc`: an *eembc.Client over its serial port (its methods are
// promoted, so the board is passed to eembc.Run as b.Client), the entry it
// was leased as, and every line it printed since the lease began.
//
// A board from LeaseEEMBC is released by the test's cleanup; one from
// AcquireEEMBC must be released with Release. Do not use it after that.
// Like the Client, its methods must not be called concurrently.
type EEMBCBoard struct {
	*eembc.Client
	// Entry is the board's inventory entry.
	Entry lab.Entry
	// Holder is the lease record written for this lease.
	Holder lab.Holder
	// DUTName is the vendor the board named in m-name-dut-[…] during its
	// health check.
	DUTName string
	// DUTProfile is the firmware and model (kws01, vww01, ad01, ic01 or
	// strww01) it reported to profile% during its health check.
	DUTProfile eembc.Profile

	lease *lab.Lease
}

// Log returns every line the board printed, and the notes hwtest made,
// since the lease began, oldest first.
func (b *EEMBCBoard) Log() []device.LogLine { return b.lease.Log.Lines() }

// Release closes the client and the port and ends the lease. It is safe to
// call more than once.
func (b *EEMBCBoard) Release() error { return b.lease.Release() }

// LeaseEEMBC is Lease for MLPerf Tiny boards: it returns an exclusive,
// healthy eembc board matching cs for the rest of the test, from the Lab
// the flags describe:
//
//	b := hwtest.LeaseEEMBC(t)
//	score, err := eembc.Run(t.Context(), b.Client, eembc.ScoreConfig{Inputs: inputs})
//
// Its health check sends name% and profile%; a board that fails twice is
// quarantined as a tinyprof board is. The board's id, platform, firmware
// (the profile string) and model are recorded with t.Attr. In the default
// build without an inventory the lab has the simulated boards
// sim-eembc-1 and sim-eembc-2 (see SimEEMBCBoards). Waiting, skipping and
// logs are as for Lease.
func LeaseEEMBC(tb testing.TB, cs ...Constraint) *EEMBCBoard {
	tb.Helper()
	return defaultLabFor(tb).LeaseEEMBC(tb, cs...)
}

// LeaseEEMBC is the package-level LeaseEEMBC on l.
func (l *Lab) LeaseEEMBC(tb testing.TB, cs ...Constraint) *EEMBCBoard {
	tb.Helper()
	ctx, cancel := l.waitContext(tb, time.Now())
	defer cancel()
	ls, err := l.acquire(ctx, tb.Name(), 1, lab.ProtocolEEMBC, cs, l.waitNotices(tb))
	if err != nil {
		l.stop(tb, err)
		return nil // stop ended the test; reached only under a fake TB
	}
	b := eembcBoardOf(ls[0])
	tb.Attr("hwtest.board", b.Entry.ID)
	tb.Attr("hwtest.platform", b.Entry.Platform)
	tb.Attr("hwtest.firmware", strings.ReplaceAll(b.DUTProfile.Firmware, " ", "_"))
	tb.Attr("hwtest.model", b.DUTProfile.Model)
	attrKind(tb, "", b.Entry.Kind() == lab.KindSimulated, false, b.Holder.Host)
	tb.Cleanup(func() { l.finish(tb, b.lease) })
	return b
}
