package espreset

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/stretchr/testify/require"
)

func TestRun(t *testing.T) {
	var got []string
	set := func(line string) func(bool) error {
		return func(v bool) error { got = append(got, fmt.Sprintf("%s=%v", line, v)); return nil }
	}
	require.NoError(t, Run(t.Context(), set("dtr"), set("rts")))
	if d := cmp.Diff([]string{"dtr=false", "rts=true", "dtr=false", "rts=false"}, got); d != "" {
		t.Errorf("sequence (-want +got):\n%s", d)
	}

	boom := errors.New("no lines")
	require.ErrorIs(t, Run(t.Context(), func(bool) error { return boom }, set("rts")), boom)

	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	require.ErrorIs(t, Run(ctx, func(bool) error { return nil }, func(bool) error { return nil }), context.Canceled)
}
