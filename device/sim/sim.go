// Package sim provides simulated boards for tests and for running
// tiny-profiler without hardware, in the manner of net/http/httptest.
//
// Start runs a board behind a real pseudo-terminal and returns it; its Path
// (/dev/pts/N) is opened by the real serial client, so a test goes through
// go.bug.st/serial and the kernel's tty layer exactly as it would with a
// board on USB. Pipe gives an in-memory board for fast unit tests.
//
// A simulated board behaves like its catalogue platform: SRAM and PSRAM are
// separate budgets less the firmware's reservation
// (platform.FirmwareReserve), a model is placed where model.Fit says (the
// placement analyze-model reports) and refused with Fit's verdict when it
// does not fit, and generation
// time comes from a cost model (see cost.go) on a virtual clock,
// deterministic for a seed. A platform with a power model
// (power/powermodel) also reports its modelled power in METRICS and drives
// simulated meters through Waveform (see power.go). Every figure it
// reports is modelled, not measured, and callers must label it so. Faults switch on misbehaviour one
// at a time.
package sim

import (
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/tinyprof/tinyprof/device"
	"github.com/tinyprof/tinyprof/internal/pty"
	"github.com/tinyprof/tinyprof/model"
	"github.com/tinyprof/tinyprof/platform"
	"github.com/tinyprof/tinyprof/power/powermodel"
)

// FirmwareVersion is what a simulated board reports as its firmware.
const FirmwareVersion = "tinyprof-sim/0.1.0"

// Options configures a simulated board. The zero value is an ESP32-S3.
type Options struct {
	// Platform is the catalogue key. Default "esp32s3".
	Platform string
	// Firmware is the reported firmware version. Default FirmwareVersion.
	Firmware string
	// Seed drives boot ids, and the generated token ids of a model
	// model/llama cannot run; a model it runs gives its own tokens (see
	// tokenSource). Default 1.
	Seed uint64
	// MaxPayload is the largest payload the board accepts. Default 1024.
	MaxPayload int
	// Baud, if positive, paces the board's input and output at Baud/10
	// bytes per second of real time (8N1), so uploads take as long as the
	// wire would make them. Default 0: no pacing.
	Baud int
	// TimeScale, if positive, makes generation take TimeScale × the modelled
	// time in real time. Default 0: tokens are produced at once; their
	// timestamps still follow the cost model.
	TimeScale float64
	// Jitter, if positive, varies each token's modelled time by a factor
	// drawn uniformly from [1-Jitter, 1+Jitter], deterministic for Seed and
	// the request's seed. Default 0: every run of a request is identical.
	Jitter float64
	// WeightsIn is where a loaded model's file is stored and its weights
	// read from; it is shorthand for Fit.Weights. Default: model.Fit's
	// automatic placement, as analyze-model reports it.
	WeightsIn platform.Region
	// Fit is the placement configuration the board hands model.Fit, the
	// one placement model, when a model is loaded: context length, KV
	// cache element size, per-tensor and per-buffer pins. The board
	// refuses a model Fit refuses, with Fit's verdict, and allocates every
	// item where Fit puts it. Default: the zero FitConfig (the model's
	// context, automatic placement, the platform's firmware reservation).
	Fit model.FitConfig
	// CPUMHz and Cores, if positive, run the board below its catalogue
	// clock or on fewer cores (platform.Platform.WithClock); the board's
	// platform, which the cost model reads, carries them. A clock above
	// the chip's maximum or more cores than it has is an error. Default:
	// the catalogue's.
	CPUMHz, Cores int
	// Faults injects misbehaviour. Default: none.
	Faults Faults
}

// Faults are the ways a simulated board can misbehave. Counts of 0 disable
// a fault.
type Faults struct {
	// BootNoise prints ESP32-style ROM boot text before each boot INFO.
	BootNoise bool
	// CorruptTxEvery flips a byte in every Nth frame the board sends.
	CorruptTxEvery int
	// DropTxEvery drops every Nth frame the board sends.
	DropTxEvery int
	// CorruptRxEvery treats every Nth frame the board receives as
	// corrupted (it answers ERROR(BAD_FRAME)).
	CorruptRxEvery int
	// FlipRxByteEvery damages every Nth byte the board receives (XOR
	// 0x01, so a 0x01 becomes a spurious 0x00 delimiter), before its
	// decoder sees it: real line noise, which the board must resynchronise
	// from and report as ERROR(BAD_FRAME).
	FlipRxByteEvery int
	// DropRxEvery ignores every Nth frame the board receives, as if lost.
	DropRxEvery int
	// DisconnectAfter closes the line after the board has sent N frames.
	DisconnectAfter int
	// HangAfter makes the board stop reading and answering after it has
	// sent N frames; the line stays open.
	HangAfter int
	// ResetAfterTokens reboots the board (new boot id) after it has
	// generated N tokens of its first generation.
	ResetAfterTokens int
	// LeakPerGenerate loses this many bytes of heap for good on every
	// generation.
	LeakPerGenerate int
	// HeapStep takes this many bytes of heap for good, once, at generation
	// HeapStepAt (counted from 1; 0 means the first): a cache that fills
	// once, which is not a leak. See HeapModel.
	HeapStep   int
	HeapStepAt int
	// HeapNoise is modelled allocation noise: after each generation up to
	// this many bytes are still held for a while, with an occasional burst
	// of up to four times that. See HeapModel.
	HeapNoise int
	// FragmentPerGenerate shrinks the largest free block by this many bytes
	// every generation while the free total stays put: fragmentation.
	FragmentPerGenerate int
	// StopAfterTokens ends every generation after this many tokens, as if
	// the model produced end of sequence.
	StopAfterTokens int
	// StallEvery makes every Nth generated token take StallFactor times its
	// modelled time (default factor 3): a stall that moves the tail of the
	// inter-token latency, not its median.
	StallEvery  int
	StallFactor float64
	// StopReadingAfter makes the board stop reading the line after it has
	// received N frames, as a hung firmware does: the host's writes then
	// fill the tty buffer and block.
	StopReadingAfter int
	// ResponseDelay delays every answer by this much real time.
	ResponseDelay time.Duration
	// BusyMetrics answers GET_METRICS during a generation with
	// ERROR(BUSY), as firmware older than PROTOCOL.md §3.5's reads would.
	BusyMetrics bool
	// Silent makes the board answer nothing at all, as a board without the
	// agent would; with Garbage it prints binary noise instead.
	Silent bool
	// Garbage makes the board send this many bytes of binary noise in
	// place of every answer: a peer that speaks no protocol.
	Garbage int
	// ProtocolVersion, if nonzero, is the version the board claims.
	ProtocolVersion uint8
}

// Board is a simulated board. Close it when done (Start does it for you).
type Board struct {
	// Path is the pseudo-terminal to open, e.g. /dev/pts/3; "" for a Pipe board.
	Path string
	// Options are the board's options with defaults filled in. Do not
	// change them after the board has started.
	Options Options

	plat   platform.Platform
	pmodel *powermodel.Model // nil: no cited power figures for the platform
	conn   io.ReadWriteCloser
	pair   *pty.Pair

	stop      chan struct{}
	wg        sync.WaitGroup
	closeOnce sync.Once

	mu    sync.Mutex // guards state
	state state
	wmu   sync.Mutex // serialises writes to conn
}

func (o Options) withDefaults() (Options, platform.Platform, error) {
	if o.Platform == "" {
		o.Platform = "esp32s3"
	}
	p, err := platform.Lookup(o.Platform)
	if err != nil {
		return o, p, err
	}
	o.Platform = p.Name
	if o.Firmware == "" {
		o.Firmware = FirmwareVersion
	}
	if o.Seed == 0 {
		o.Seed = 1
	}
	if o.MaxPayload <= 0 {
		o.MaxPayload = 1024
	}
	if o.WeightsIn != "" {
		if o.Fit.Weights != "" && o.Fit.Weights != o.WeightsIn {
			return o, p, fmt.Errorf("simulated board: WeightsIn %s and Fit.Weights %s disagree: set one", o.WeightsIn, o.Fit.Weights)
		}
		o.Fit.Weights = o.WeightsIn
	}
	if p, err = p.WithClock(o.CPUMHz, o.Cores); err != nil {
		return o, p, fmt.Errorf("simulated %s: %w", p.Name, err)
	}
	return o, p, nil
}

// Listen starts a board behind a new pseudo-terminal. The caller must call
// Close. It is the non-test form of Start, used by the CLI.
func Listen(opts Options) (*Board, error) {
	opts, p, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	pair, err := pty.Open()
	if err != nil {
		return nil, fmt.Errorf("simulated board: %w", err)
	}
	b := &Board{Path: pair.Path, Options: opts, plat: p, conn: pair.Master, pair: pair}
	b.start()
	return b, nil
}

// Start starts a board behind a pseudo-terminal and closes it when the test
// ends. It fails the test if no pseudo-terminal can be opened.
func Start(tb testing.TB, opts Options) *Board {
	tb.Helper()
	b, err := Listen(opts)
	if err != nil {
		tb.Fatalf("sim.Start: %v", err)
	}
	tb.Cleanup(func() { b.Close() })
	return b
}

// Pipe starts a board on an in-memory connection and returns the host end.
// Closing the returned transport does not stop the board: call Close.
func Pipe(opts Options) (device.Transport, *Board, error) {
	opts, p, err := opts.withDefaults()
	if err != nil {
		return nil, nil, err
	}
	host, board := net.Pipe()
	b := &Board{Options: opts, plat: p, conn: board}
	b.start()
	return host, b, nil
}

func (b *Board) start() {
	if m, err := powermodel.Board(b.plat); err == nil {
		b.pmodel = &m
	}
	b.stop = make(chan struct{})
	b.state.init(b.Options, b.plat)
	b.wg.Add(1)
	go b.serve()
}

// Close stops the board and waits for its goroutines. A client that still
// has the port open sees it closed.
func (b *Board) Close() error {
	b.closeOnce.Do(func() {
		close(b.stop)
		b.conn.Close()
	})
	b.wg.Wait()
	if b.pair != nil {
		return b.pair.Close()
	}
	return nil
}

// Platform returns the board's platform.
func (b *Board) Platform() platform.Platform { return b.plat }

// BootID returns the board's current boot id.
func (b *Board) BootID() uint32 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.state.bootID
}

// Resets returns how many times the board rebooted after its first boot.
func (b *Board) Resets() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.state.resets
}

// sleep waits d of real time, or until the board stops. It reports false
// if the board stopped.
func (b *Board) sleep(d time.Duration) bool {
	if d <= 0 {
		return true
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-b.stop:
		return false
	case <-t.C:
		return true
	}
}

func (b *Board) stopped() bool {
	select {
	case <-b.stop:
		return true
	default:
		return false
	}
}

var errStopped = errors.New("board stopped")
