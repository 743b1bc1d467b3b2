package emu_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tinyprof/tinyprof/device"
	"github.com/tinyprof/tinyprof/device/emu"
	"github.com/tinyprof/tinyprof/firmware"
	"github.com/tinyprof/tinyprof/fixtures"
)

// faultMachine is the target the fault tests run on.
const faultMachine = "mps2-an386"

// fast keeps the fault tests short: one attempt waits this long.
var fast = device.Options{Timeout: 500 * time.Millisecond}

// testModel is the fixture the tests upload unless they say otherwise: the
// Tiny shape at Q4_0 (18 KiB, two seconds of upload), which fits every
// target's upload buffer.
const testModel = "tiny-q4_0.gguf"

// readModel returns the bytes of a fixture model.
func readModel(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(fixtures.Model(t, name))
	require.NoError(t, err)
	return b
}

// connect starts an emulated board, opens it through the real serial
// client, says HELLO and uploads testModel.
func connect(t *testing.T, opts device.Options) (*emu.Board, *device.Device) {
	t.Helper()
	return connectTo(t, faultMachine, opts)
}

// connectTo is connect on the given machine.
func connectTo(t *testing.T, machine string, opts device.Options) (*emu.Board, *device.Device) {
	t.Helper()
	b := emu.Start(t, emu.Options{Machine: machine})
	p, err := b.Open(t.Context())
	require.NoError(t, err)
	d := device.New(p, opts)
	t.Cleanup(func() { d.Close() })
	// The fault tests' attempts are short; on a loaded host QEMU can take
	// longer than two of them to answer the first HELLO. That is the host,
	// not a fault under test, so the HELLO may take a few tries.
	for try := 1; ; try++ {
		_, err = d.Hello(t.Context())
		if err == nil || try == 5 || !errors.Is(err, device.ErrTimeout) {
			break
		}
	}
	require.NoError(t, err)
	model := readModel(t, testModel)
	_, err = d.LoadModel(t.Context(), bytes.NewReader(model), int64(len(model)), device.LoadOptions{})
	require.NoError(t, err)
	return b, d
}

// long is a generation that runs until something stops it: testModel's
// whole context of 1024 positions on mps2-an386, some seconds.
func long(onToken func(int, firmware.Token)) device.GenerateRequest {
	return device.GenerateRequest{Prompt: "once upon a time", MaxTokens: 60000, Seed: 3, OnToken: onToken}
}

// once returns an OnToken callback that runs f after the first token.
func once(f func()) func(int, firmware.Token) {
	var o sync.Once
	return func(int, firmware.Token) { o.Do(f) }
}

// TestHang pauses the emulated processor in the middle of a generation:
// the client's request must fail with a timeout, and after Resume the board
// must answer again.
func TestHang(t *testing.T) {
	b, d := connect(t, fast)
	ctx := t.Context()

	var pauseErr error
	_, err := d.Generate(ctx, long(once(func() { pauseErr = b.Pause(ctx) })))
	require.NoError(t, pauseErr)
	require.Error(t, err)
	assert.ErrorIs(t, err, device.ErrTimeout, "a hung board must read as a timeout")

	_, err = d.Ping(ctx, []byte("still hung?"))
	assert.ErrorIs(t, err, device.ErrTimeout)

	require.NoError(t, b.Resume(ctx))
	// The resumed board first finishes what it was doing; the client skips
	// the stale frames and the cancelled generation's end.
	require.Eventually(t, func() bool {
		_, err := d.Ping(ctx, []byte("awake"))
		return err == nil
	}, 10*time.Second, 10*time.Millisecond, "no PONG after Resume")
	g, err := d.Generate(ctx, device.GenerateRequest{Prompt: "again", MaxTokens: 20})
	require.NoError(t, err)
	assert.Len(t, g.Tokens, 20)
}

// TestDisconnect kills QEMU during a generation, as pulling the cable
// would: the generation and every later request must fail promptly with a
// closed connection, not hang.
func TestDisconnect(t *testing.T) {
	b, d := connect(t, fast)
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()

	_, err := d.Generate(ctx, long(once(func() { _ = b.Kill() })))
	require.Error(t, err)
	assert.True(t, b.Exited())
	assert.ErrorIs(t, err, device.ErrClosed)
	assert.NoError(t, ctx.Err(), "the generation's failure took until the deadline")

	_, err = d.Ping(ctx, []byte("anyone?"))
	assert.ErrorIs(t, err, device.ErrClosed)
	assert.Error(t, b.Reset(ctx), "Reset of a dead board")
}

// TestResetMidGeneration resets the machine during a generation: the client
// must report the reboot, see the new boot id, and the board must work
// after a new HELLO and upload. The transport's hard reset is the same
// machine reset.
func TestResetMidGeneration(t *testing.T) {
	b, d := connect(t, fast)
	ctx := t.Context()
	before := d.Info().BootID

	var resetErr error
	_, err := d.Generate(ctx, long(once(func() { resetErr = b.Reset(ctx) })))
	require.NoError(t, resetErr)
	require.ErrorIs(t, err, device.ErrBoardReset)

	info, err := d.Hello(ctx)
	require.NoError(t, err)
	assert.NotEqual(t, before, info.BootID, "the boot id must change across a reset")

	_, err = d.Generate(ctx, device.GenerateRequest{MaxTokens: 4})
	assert.Error(t, err, "a rebooted board has no model")
	model := readModel(t, testModel)
	_, err = d.LoadModel(ctx, bytes.NewReader(model), int64(len(model)), device.LoadOptions{})
	require.NoError(t, err)

	hard, err := d.HardReset(ctx)
	require.NoError(t, err, "HardReset through the emulated board's port")
	assert.NotEqual(t, info.BootID, hard.BootID)
}

// flipper is a transport that damages bytes in both directions: every
// everyRx-th byte read and every everyTx-th byte written is XORed with
// 0x01, so a 0x01 becomes a spurious frame delimiter.
type flipper struct {
	device.Transport
	mu               sync.Mutex
	rx, tx           int
	everyRx, everyTx int
	flipped          int
}

func (f *flipper) Read(p []byte) (int, error) {
	n, err := f.Transport.Read(p)
	f.mu.Lock()
	defer f.mu.Unlock()
	for i := range n {
		if f.rx++; f.rx%f.everyRx == 0 {
			p[i] ^= 0x01
			f.flipped++
		}
	}
	return n, err
}

func (f *flipper) Write(p []byte) (int, error) {
	q := bytes.Clone(p)
	f.mu.Lock()
	for i := range q {
		if f.tx++; f.tx%f.everyTx == 0 {
			q[i] ^= 0x01
			f.flipped++
		}
	}
	f.mu.Unlock()
	return f.Transport.Write(q)
}

// TestCorruptedFrames runs the client through a transport that damages
// bytes both ways: requests and generations must still succeed, through
// the protocol's CRC, resends and retries, with the tokens an undamaged
// line gives.
func TestCorruptedFrames(t *testing.T) {
	b, clean := connect(t, fast)
	ctx := t.Context()
	req := device.GenerateRequest{Prompt: "the same tokens", MaxTokens: 48, Seed: 11}
	want, err := clean.Generate(ctx, req)
	require.NoError(t, err)
	require.NoError(t, clean.Close())

	p, err := b.Open(ctx)
	require.NoError(t, err)
	f := &flipper{Transport: p, everyRx: 331, everyTx: 257}
	d := device.New(f, device.Options{Timeout: fast.Timeout, Retries: 8})
	defer d.Close()
	_, err = d.Hello(ctx)
	require.NoError(t, err)
	for range 5 {
		data := make([]byte, 100)
		_, _ = rand.Read(data)
		_, err := d.Ping(ctx, data)
		require.NoError(t, err)
	}
	got, err := d.Generate(ctx, req)
	require.NoError(t, err)
	if diff := cmp.Diff(ids(want.Tokens), ids(got.Tokens)); diff != "" {
		t.Errorf("tokens through a damaged line differ (-clean +damaged):\n%s", diff)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	assert.Positive(t, f.flipped, "the line was not damaged")
}

func ids(ts []firmware.Token) []uint32 {
	out := make([]uint32, len(ts))
	for i, t := range ts {
		out[i] = t.ID
	}
	return out
}
