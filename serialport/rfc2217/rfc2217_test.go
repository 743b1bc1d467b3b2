package rfc2217_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/tinyprof/tinyprof/device"
	"github.com/tinyprof/tinyprof/device/sim"
	"github.com/tinyprof/tinyprof/firmware/conformance"
	"github.com/tinyprof/tinyprof/fixtures"
	"github.com/tinyprof/tinyprof/serialport"
	"github.com/tinyprof/tinyprof/serialport/rfc2217"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// model is the stories260K-class llama2.c fixture, about 1 MiB.
var model = fixtures.Llama2C(fixtures.Stories260K, fixtures.Seed)

// dial opens addr through the public entry point and registers Close.
func dial(t *testing.T, addr string, opts rfc2217.Options) *rfc2217.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	c, err := rfc2217.Dial(ctx, addr, opts)
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	return c
}

// run is what a board does in the tests that compare transports: the
// figures a deterministic simulated board must give alike on every path.
type run struct {
	Platform string
	Region   string
	Params   int64
	Gen      *device.Generation
}

func exercise(t *testing.T, d *device.Device) run {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	info, err := d.Hello(ctx)
	require.NoError(t, err)
	_, err = d.Ping(ctx, []byte("ping"))
	require.NoError(t, err)
	loaded, err := d.LoadModel(ctx, bytes.NewReader(model), int64(len(model)), device.LoadOptions{Name: "stories260k.bin"})
	require.NoError(t, err)
	g, err := d.Generate(ctx, device.GenerateRequest{Prompt: "Once upon a time", MaxTokens: 48, Seed: 7})
	require.NoError(t, err)
	// The board's clock runs from its boot, in real time between requests:
	// only times from the generation's start are the simulator's own.
	for i := range g.Tokens {
		g.Tokens[i].TimeUS -= g.Summary.StartUS
	}
	g.Summary.StartUS = 0
	return run{Platform: info.Platform, Region: loaded.Region, Params: int64(loaded.Parameters), Gen: g}
}

// TestDeviceOverSer2netMatchesDirect runs the same session on two
// identical simulated boards, one opened directly on its pty and one
// through the real ser2net, and wants the same figures from both.
func TestDeviceOverSer2netMatchesDirect(t *testing.T) {
	direct := sim.Start(t, sim.Options{})
	remote := sim.Start(t, sim.Options{})
	addr := startSer2net(t, remote.Path)

	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	dd, err := device.Open(ctx, direct.Path, device.Options{})
	require.NoError(t, err)
	defer dd.Close()
	want := exercise(t, dd)

	line, err := serialport.OpenURL(ctx, "rfc2217://"+addr, 115200)
	require.NoError(t, err)
	rd := device.New(line, device.Options{})
	defer rd.Close()
	assert.Equal(t, "rfc2217://"+addr, rd.Name())
	got := exercise(t, rd)

	require.Len(t, got.Gen.Tokens, 48)
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("over ser2net (-direct +rfc2217):\n%s", diff)
	}
}

// TestConformanceOverSer2net runs the protocol conformance suite against a
// simulated board reached through ser2net.
func TestConformanceOverSer2net(t *testing.T) {
	b := sim.Start(t, sim.Options{})
	c := dial(t, startSer2net(t, b.Path), rfc2217.Options{})
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	require.NoError(t, conformance.Test(ctx, c, conformance.Options{Model: model}))
}

// TestIACHeavyPingsRoundTrip sends payloads made of telnet's special bytes
// (IAC, SB, SE, WILL...) through ser2net: each must come back unchanged.
func TestIACHeavyPingsRoundTrip(t *testing.T) {
	b := sim.Start(t, sim.Options{})
	line, err := serialport.OpenURL(t.Context(), "rfc2217://"+startSer2net(t, b.Path), 0)
	require.NoError(t, err)
	d := device.New(line, device.Options{})
	defer d.Close()
	_, err = d.Hello(t.Context())
	require.NoError(t, err)

	alternating := make([]byte, 1000)
	for i := range alternating {
		alternating[i] = []byte{0xFF, 0x00}[i%2]
	}
	everyByte := make([]byte, 1000)
	for i := range everyByte {
		everyByte[i] = byte(255 - i%256)
	}
	tests := map[string][]byte{
		"one IAC":        {0xFF},
		"1000 IACs":      bytes.Repeat([]byte{0xFF}, 1000),
		"IAC and zeros":  alternating,
		"telnet phrases": bytes.Repeat([]byte{0xFF, 0xFA, 0x2C, 0x01, 0xFF, 0xF0, 0xFF, 0xFB, 0x01, 0xFF, 0xFD}, 90),
		"every byte":     everyByte,
	}
	for name, payload := range tests {
		t.Run(name, func(t *testing.T) {
			// Ping checks the echo against what it sent.
			_, err := d.Ping(t.Context(), payload)
			require.NoError(t, err)
		})
	}
}

// TestReadContract checks the device.Transport contract over ser2net: a
// quiet line gives a timeout error (never 0, nil), and Close unblocks a
// Read in progress.
func TestReadContract(t *testing.T) {
	b := sim.Start(t, sim.Options{})
	c := dial(t, startSer2net(t, b.Path), rfc2217.Options{})

	buf := make([]byte, 64)
	n, err := c.Read(buf)
	assert.Zero(t, n)
	var te interface{ Timeout() bool }
	require.ErrorAs(t, err, &te)
	assert.True(t, te.Timeout())
	assert.ErrorIs(t, err, os.ErrDeadlineExceeded)

	require.NoError(t, c.SetReadDeadline(time.Now().Add(-time.Second)))
	_, err = c.Read(buf)
	assert.ErrorIs(t, err, os.ErrDeadlineExceeded, "a passed deadline times out at once")
	require.NoError(t, c.SetReadDeadline(time.Time{}))

	done := make(chan error, 1)
	go func() {
		for {
			_, err := c.Read(buf)
			if !errors.Is(err, os.ErrDeadlineExceeded) {
				done <- err
				return
			}
		}
	}()
	time.Sleep(50 * time.Millisecond)
	require.NoError(t, c.Close())
	err = <-done
	var re *rfc2217.Error
	require.ErrorAs(t, err, &re)
	assert.Equal(t, rfc2217.Closed, re.Kind)

	_, err = c.Write([]byte{0xFF})
	require.ErrorAs(t, err, &re)
	assert.Equal(t, rfc2217.Closed, re.Kind, "write after close")
	assert.NoError(t, c.Close(), "a second Close")
	require.ErrorAs(t, c.SetDTR(t.Context(), true), &re)
	assert.Equal(t, rfc2217.Closed, re.Kind, "a command after close")
}

// TestHardResetOverSer2netPty: ser2net answers SET-CONTROL for DTR and RTS
// only when its port has the lines; in front of a pty it stays silent but
// answers other commands, which the client reports as no reset lines — as
// a local pty does, and with the same device error code.
func TestHardResetOverSer2netPty(t *testing.T) {
	b := sim.Start(t, sim.Options{})
	addr := startSer2net(t, b.Path)
	c := dial(t, addr, rfc2217.Options{AckTimeout: time.Second})
	err := c.HardReset(t.Context())
	var re *rfc2217.Error
	require.ErrorAs(t, err, &re)
	assert.Equal(t, rfc2217.NoResetLines, re.Kind, "%v", err)

	sig, err := c.Signature(t.Context())
	require.NoError(t, err, "the connection stays usable")
	assert.Equal(t, "ser2net", sig)
	require.NoError(t, c.Purge(t.Context(), rfc2217.PurgeBoth))
	// ser2net reports the modem lines when COM-PORT-OPTION is agreed.
	_, seen := c.ModemState()
	assert.True(t, seen, "NOTIFY-MODEMSTATE recorded")
	c.Close()

	line, err := serialport.OpenURL(t.Context(), "rfc2217://"+addr, 0)
	require.NoError(t, err)
	d := device.New(line, device.Options{})
	defer d.Close()
	_, err = d.HardReset(t.Context())
	require.ErrorIs(t, err, device.ErrNoResetLines, "over RFC 2217")
	d.Close()

	direct, err := device.Open(t.Context(), b.Path, device.Options{})
	require.NoError(t, err)
	defer direct.Close()
	_, err = direct.HardReset(t.Context())
	require.ErrorIs(t, err, device.ErrNoResetLines, "on the pty itself")
}

// TestServerGoesAway kills ser2net under an open device: the next request
// fails as a lost connection, at once, and Close still returns.
func TestServerGoesAway(t *testing.T) {
	b := sim.Start(t, sim.Options{})
	addr, s := startSer2netProcess(t, b.Path)
	line, err := serialport.OpenURL(t.Context(), "rfc2217://"+addr, 0)
	require.NoError(t, err)
	d := device.New(line, device.Options{})
	defer d.Close()
	_, err = d.Hello(t.Context())
	require.NoError(t, err)

	s.kill()
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	_, err = d.Ping(ctx, []byte("anyone?"))
	require.ErrorIs(t, err, device.ErrClosed)
	assert.NoError(t, ctx.Err(), "failed at once, not at the deadline")
	assert.Contains(t, err.Error(), "rfc2217://"+addr)
}

// TestPyserialServer uses pyserial's PortManager as a second, independent
// RFC 2217 server: the line settings and the reset sequence reach it in
// order, and the protocol runs over it.
func TestPyserialServer(t *testing.T) {
	b := sim.Start(t, sim.Options{})
	srv := startPyserial(t, b.Path)
	c := dial(t, srv.Addr, rfc2217.Options{Baud: 57600, Parity: rfc2217.ParityEven, StopBits: rfc2217.StopTwo, DataBits: 7})
	require.NoError(t, c.SetLine(t.Context(), 115200, 8, rfc2217.ParityNone, rfc2217.StopOne))
	require.NoError(t, c.HardReset(t.Context()))

	d := device.New(c, device.Options{})
	defer d.Close()
	info, err := d.Hello(t.Context())
	require.NoError(t, err)
	assert.Equal(t, b.BootID(), info.BootID)
	_, err = d.Ping(t.Context(), bytes.Repeat([]byte{0xFF, 0x00, 0xFF}, 100))
	require.NoError(t, err)

	// PortManager applies each setting and answers; the script reports it.
	want := []map[string]any{
		{"baudrate": 57600.0}, {"bytesize": 7.0}, {"parity": "E"}, {"stopbits": 2.0},
		{"baudrate": 115200.0}, {"bytesize": 8.0}, {"parity": "N"}, {"stopbits": 1.0},
		{"dtr": false}, {"rts": true}, {"dtr": false}, {"rts": false},
	}
	var got []map[string]any
	timeout := time.After(5 * time.Second)
	for len(got) < len(want) {
		select {
		case l := <-srv.events:
			var ev map[string]any
			require.NoError(t, json.Unmarshal([]byte(l), &ev), "line %q", l)
			if _, isErr := ev["error"]; isErr {
				continue // the pty cannot drive DTR/RTS; PortManager still answered
			}
			got = append(got, ev)
		case <-timeout:
			t.Fatalf("the server reported %v, want %v", got, want)
		}
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("settings the server saw (-want +got):\n%s", diff)
	}
}
