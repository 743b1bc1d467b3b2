package rfc2217_test

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/tinyprof/tinyprof/device"
	"github.com/tinyprof/tinyprof/device/sim"
	"github.com/tinyprof/tinyprof/serialport"
)

// benchPair opens two identical simulated boards, one directly on its pty
// and one through ser2net on loopback, for benchmarks that time both in
// the same run.
func benchPair(b *testing.B) (direct, remote *device.Device) {
	b.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	db := sim.Start(b, sim.Options{})
	rb := sim.Start(b, sim.Options{})
	addr := startSer2net(b, rb.Path)
	direct, err := device.Open(ctx, db.Path, device.Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { direct.Close() })
	line, err := serialport.OpenURL(ctx, "rfc2217://"+addr, 115200)
	if err != nil {
		b.Fatal(err)
	}
	remote = device.New(line, device.Options{})
	b.Cleanup(func() { remote.Close() })
	if _, err := remote.Hello(ctx); err != nil {
		b.Fatal(err)
	}
	return direct, remote
}

// interleave runs f on the direct and the remote device alternately, in
// alternating order so that neither pays for the other's wake-ups, and
// returns the total time each took.
func interleave(b *testing.B, direct, remote *device.Device, f func(*device.Device)) (dt, rt time.Duration) {
	i := 0
	for b.Loop() {
		first, second := direct, remote
		if i%2 == 1 {
			first, second = remote, direct
		}
		for _, d := range []*device.Device{first, second} {
			t0 := time.Now()
			f(d)
			if d == direct {
				dt += time.Since(t0)
			} else {
				rt += time.Since(t0)
			}
		}
		i++
	}
	return dt, rt
}

// BenchmarkPing measures a 64-byte protocol PING round trip to a simulated
// board directly on its pty beside one through ser2net (RFC 2217) on
// loopback, interleaved in one run. ratio is remote over direct.
func BenchmarkPing(b *testing.B) {
	direct, remote := benchPair(b)
	msg := bytes.Repeat([]byte("0123456789abcdef"), 4)
	dt, rt := interleave(b, direct, remote, func(d *device.Device) {
		if _, err := d.Ping(context.Background(), msg); err != nil {
			b.Fatal(err)
		}
	})
	b.ReportMetric(float64(dt.Nanoseconds())/float64(b.N), "direct-ns/rtt")
	b.ReportMetric(float64(rt.Nanoseconds())/float64(b.N), "rfc2217-ns/rtt")
	b.ReportMetric(float64(rt)/float64(dt), "ratio")
}

// BenchmarkUpload measures the 1 MiB fixture model's upload to a simulated
// board (no baud pacing) directly on its pty beside one through ser2net,
// interleaved in one run.
func BenchmarkUpload(b *testing.B) {
	direct, remote := benchPair(b)
	dt, rt := interleave(b, direct, remote, func(d *device.Device) {
		if _, err := d.LoadModel(context.Background(), bytes.NewReader(model), int64(len(model)), device.LoadOptions{}); err != nil {
			b.Fatal(err)
		}
	})
	mb := float64(len(model)) * float64(b.N) / 1e6
	b.ReportMetric(mb/dt.Seconds(), "direct-MB/s")
	b.ReportMetric(mb/rt.Seconds(), "rfc2217-MB/s")
	b.ReportMetric(float64(rt)/float64(dt), "ratio")
}
