package bench

import (
	"context"
	"io"

	"github.com/tinyprof/tinyprof/device"
	"github.com/tinyprof/tinyprof/firmware"
)

// Device is what Generate and CheckLeaks need of a board. A *device.Device
// is one, and so is a *hwtest.Board (it embeds a *device.Device); the
// board must have answered Hello.
type Device interface {
	Name() string
	Info() *firmware.Info
	Metrics(ctx context.Context) (*firmware.Metrics, error)
	LoadModel(ctx context.Context, r io.ReaderAt, size int64, opts device.LoadOptions) (*device.LoadResult, error)
	Generate(ctx context.Context, req device.GenerateRequest) (*device.Generation, error)
	// MetricsRequests counts the METRICS requests sent to the board,
	// resends included: each answer restarts the board's power average,
	// so a Ledger checks that it saw every one.
	MetricsRequests() int64
}

var _ Device = (*device.Device)(nil)

// Workload is one iteration of what CheckLeaks watches: it runs on the
// board and returns when the board is idle again. i counts from 0 over the
// warm-up and then the measured iterations.
type Workload func(ctx context.Context, i int) error

// GenerateWorkload returns a Workload that runs req on dev, with seed
// req.Seed+i, and fails when the board returns fewer tokens than
// req.MaxTokens asked for. The model must already be loaded.
func GenerateWorkload(dev Device, req device.GenerateRequest) Workload {
	return func(ctx context.Context, i int) error {
		r := req
		r.Seed += uint32(i)
		g, err := dev.Generate(ctx, r)
		if err != nil {
			return err
		}
		want := r.MaxTokens
		if want <= 0 {
			want = 64
		}
		return checkTokens(g, want)
	}
}
