package conformance_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/tinyprof/tinyprof/firmware/conformance"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestConformingFake(t *testing.T) {
	for _, f := range []faults{{}, {logEverywhere: true}} {
		conn := startFake(t, f)
		require.NoError(t, conformance.Test(t.Context(), conn, conformance.Options{}))
	}
}

func TestFaultyFakes(t *testing.T) {
	tests := []struct {
		name   string
		faults faults
		opts   conformance.Options
		want   []string // substrings of the joined error
	}{
		{"silent", faults{silent: true}, conformance.Options{}, []string{"HELLO", "no answer before the timeout", "remaining checks skipped"}},
		{"truncated PONG", faults{truncatePong: true}, conformance.Options{}, []string{"PING: 1 bytes: PONG of a 1-byte PING carries 0"}},
		{"wrong unknown code", faults{wrongUnknown: true}, conformance.Options{}, []string{"unknown command: type 0x09: ERROR code 8"}},
		{"no BAD_FRAME", faults{noBadFrame: true}, conformance.Options{}, []string{"bad frame: waiting for ERROR(BAD_FRAME)"}},
		{"accepts a gap", faults{acceptGap: true}, conformance.Options{}, []string{"go-back-N", "drop it"}},
		{"no resume", faults{noResume: true}, conformance.Options{}, []string{"resuming MODEL_BEGIN acknowledged offset 0"}},
		{"unsupported format", faults{unsupported: true}, conformance.Options{}, []string{"answered with ERROR(unsupported format"}},
		{"skipped batch index", faults{skipIndex: true}, conformance.Options{}, []string{"TOKENS index 17 after 16 tokens"}},
		{"wrong ttft", faults{ttftOff: true}, conformance.Options{}, []string{"ttft_us"}},
		{"nondeterministic", faults{randomTokens: true}, conformance.Options{}, []string{"two generations with seed 42 differ"}},
		{"refuses GET_METRICS during a generation", faults{busyMetrics: true}, conformance.Options{}, []string{"second run, with GET_METRICS during it: GET_METRICS sent during the generation", "want METRICS"}},
		{"hangs after upload", faults{hangAfterUpload: true}, conformance.Options{}, []string{"repeated MODEL_END", "remaining checks skipped"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts := tt.opts
			opts.Timeout, opts.GenerateTimeout = 300*time.Millisecond, 300*time.Millisecond
			err := conformance.Test(t.Context(), startFake(t, tt.faults), opts)
			require.Error(t, err)
			for _, w := range tt.want {
				assert.ErrorContains(t, err, w)
			}
		})
	}
}

func TestUnsupportedFormatAllowed(t *testing.T) {
	err := conformance.Test(t.Context(), startFake(t, faults{unsupported: true}), conformance.Options{AllowUnsupportedFormat: true})
	require.NoError(t, err)
}

func TestCancelledContext(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	err := conformance.Test(ctx, startFake(t, faults{silent: true}), conformance.Options{Timeout: time.Hour})
	require.ErrorIs(t, err, context.Canceled)
}
