package device_test

import (
	"bytes"
	"context"
	"io"
	"testing"
	"time"

	"go.bug.st/serial"

	"github.com/tinyprof/tinyprof/device"
	"github.com/tinyprof/tinyprof/device/sim"
	"github.com/tinyprof/tinyprof/internal/pty"
)

// BenchmarkPingVsRawEcho measures a protocol PING round trip to a simulated
// board over a pty beside a raw 64-byte echo over another pty through the
// same serial library, interleaved in one run so that both see the same
// machine load. ratio is protocol time over raw time: the protocol's cost.
func BenchmarkPingVsRawEcho(b *testing.B) {
	// Raw echo: a goroutine echoes on the master; the client opens the slave.
	p, err := pty.Open()
	if err != nil {
		b.Fatal(err)
	}
	defer p.Close()
	go io.Copy(p.Master, p.Master)
	port, err := serial.Open(p.Path, &serial.Mode{BaudRate: 115200})
	if err != nil {
		b.Fatal(err)
	}
	defer port.Close()

	board := sim.Start(b, sim.Options{})
	d, err := device.Open(context.Background(), board.Path, device.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer d.Close()

	msg := bytes.Repeat([]byte("0123456789abcdef"), 4)
	got := make([]byte, len(msg))
	var raw, proto time.Duration
	rawEcho := func() {
		t0 := time.Now()
		if _, err := port.Write(msg); err != nil {
			b.Fatal(err)
		}
		if _, err := io.ReadFull(port, got); err != nil {
			b.Fatal(err)
		}
		raw += time.Since(t0)
	}
	ping := func() {
		t0 := time.Now()
		if _, err := d.Ping(context.Background(), msg); err != nil {
			b.Fatal(err)
		}
		proto += time.Since(t0)
	}
	i := 0
	for b.Loop() {
		// Alternate the order so neither pays for the other's wake-ups.
		if i%2 == 0 {
			rawEcho()
			ping()
		} else {
			ping()
			rawEcho()
		}
		i++
	}
	b.ReportMetric(float64(raw.Nanoseconds())/float64(b.N), "raw-ns/rtt")
	b.ReportMetric(float64(proto.Nanoseconds())/float64(b.N), "ping-ns/rtt")
	b.ReportMetric(float64(proto)/float64(raw), "ratio")
}

// BenchmarkUpload measures model upload throughput over a pty to a
// simulated board with no baud pacing: the host and protocol ceiling.
func BenchmarkUpload(b *testing.B) {
	board := sim.Start(b, sim.Options{})
	d, err := device.Open(context.Background(), board.Path, device.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer d.Close()
	b.SetBytes(int64(len(tiny)))
	for b.Loop() {
		if _, err := d.LoadModel(context.Background(), bytes.NewReader(tiny), int64(len(tiny)), device.LoadOptions{}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkHostCostPerToken measures what the host spends on each token it
// receives: decoding, dispatch and bookkeeping in Generate, from an
// in-memory board producing 500-token generations at once.
func BenchmarkHostCostPerToken(b *testing.B) {
	tr, board, err := sim.Pipe(sim.Options{Platform: "jetson-orin-nano"})
	if err != nil {
		b.Fatal(err)
	}
	defer board.Close()
	d := device.New(tr, device.Options{})
	defer d.Close()
	ctx := context.Background()
	if _, err := d.Hello(ctx); err != nil {
		b.Fatal(err)
	}
	if _, err := d.LoadModel(ctx, bytes.NewReader(tiny), int64(len(tiny)), device.LoadOptions{}); err != nil {
		b.Fatal(err)
	}
	const tokens = 500 // within the model's 512-token context
	for b.Loop() {
		g, err := d.Generate(ctx, device.GenerateRequest{MaxTokens: tokens})
		if err != nil || len(g.Tokens) != tokens {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/tokens, "ns/token")
}
