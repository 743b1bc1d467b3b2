// Package conformance checks that a device speaks the tinyprof wire
// protocol (firmware/PROTOCOL.md). Every implementation — the simulated
// board, the host build of the C agent, a real board on a serial port — must
// pass the same suite.
package conformance

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"
)

// Options configures Test. The zero value is usable.
type Options struct {
	// Model is the model Test uploads. Nil means 6000 pseudo-random bytes,
	// which only a board without a real model parser accepts (the host
	// build of the C agent with its stand-in generator). A board that
	// parses models — the simulator, our runtime — needs a real model file
	// here (e.g. a fixtures model), or AllowUnsupportedFormat.
	Model []byte
	// ModelName is sent in MODEL_BEGIN. Empty means "conformance.bin".
	ModelName string
	// AllowUnsupportedFormat accepts ERROR(UNSUPPORTED_FORMAT) as the
	// answer to a correct upload; Test then skips the generation checks.
	// Set it for a board that runs a real runtime and cannot load Model.
	AllowUnsupportedFormat bool
	// Timeout bounds each request's answer. Zero means 2 s.
	Timeout time.Duration
	// GenerateTimeout bounds a whole generation. Zero means 30 s.
	GenerateTimeout time.Duration
	// MaxTokens is the generation length Test asks for. Zero means 40,
	// enough for three TOKENS batches.
	MaxTokens uint16
	// ChunkSize and Window are proposed in MODEL_BEGIN. Zero means 256
	// bytes and 4 chunks; the device may lower both.
	ChunkSize uint16
	Window    uint8
}

func (o Options) withDefaults() Options {
	if o.Model == nil {
		o.Model = defaultModel()
	}
	if o.ModelName == "" {
		o.ModelName = "conformance.bin"
	}
	if o.Timeout <= 0 {
		o.Timeout = 2 * time.Second
	}
	if o.GenerateTimeout <= 0 {
		o.GenerateTimeout = 30 * time.Second
	}
	if o.MaxTokens == 0 {
		o.MaxTokens = 40
	}
	if o.ChunkSize == 0 {
		o.ChunkSize = 256
	}
	if o.Window == 0 {
		o.Window = 4
	}
	return o
}

// defaultModel returns deterministic bytes with runs of zeros, so that the
// chunks exercise COBS too.
func defaultModel() []byte {
	b := make([]byte, 6000)
	x := uint32(2463534242)
	for i := range b {
		x ^= x << 13
		x ^= x >> 17
		x ^= x << 5
		if i%97 < 5 {
			continue
		}
		b[i] = byte(x)
	}
	return b
}

// check is one named part of the suite.
type check struct {
	name string
	run  func(context.Context, *session) error
}

// ErrNotResponding reports a device that stopped answering PING, after
// which Test skips the remaining checks.
var ErrNotResponding = errors.New("device does not answer PING; remaining checks skipped")

// Test drives the device on the other end of rw through the protocol at
// the frame level and returns every problem it finds, joined with
// errors.Join, or nil if the device conforms. It sends HELLO, PING, bad
// and unknown frames, uploads opts.Model (leaving it loaded), runs
// generations and reads metrics.
//
// Every wait is bounded by ctx and opts.Timeout. Test reads rw from a
// goroutine; if rw has a SetReadDeadline method (an *os.File on a pty, a
// net.Conn) Test stops that goroutine before returning, otherwise it ends
// when the caller closes rw, and may consume bytes meanwhile. Test must be
// the only user of rw while it runs.
func Test(ctx context.Context, rw io.ReadWriter, opts Options) error {
	opts = opts.withDefaults()
	s := newSession(rw, opts)
	defer s.close()

	checks := []check{
		{"HELLO", checkHello},
		{"PING", checkPing},
		{"unknown command", checkUnknown},
		{"bad frame", checkBadFrame},
		{"noise", checkNoise},
		{"GET_METRICS", checkMetrics},
		{"model upload", checkUpload},
		{"GENERATE", checkGenerate},
	}
	var errs []error
	for i, c := range checks {
		if err := c.run(ctx, s); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", c.name, err))
			if ctx.Err() != nil {
				break
			}
			if i == 0 || ping(ctx, s, []byte("alive?")) != nil {
				errs = append(errs, ErrNotResponding)
				break
			}
		}
	}
	for _, p := range s.problems {
		errs = append(errs, fmt.Errorf("stream: %w", p))
	}
	return errors.Join(errs...)
}
