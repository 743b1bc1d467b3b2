package device_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"net"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tinyprof/tinyprof/device"
	"github.com/tinyprof/tinyprof/firmware"
)

// TestLoadModelRegion: the region a board reports in MODEL_DONE becomes
// the result's name for it, and one outside the protocol's three is a bad
// response, not a "region 7" in a report.
func TestLoadModelRegion(t *testing.T) {
	tests := []struct {
		region firmware.Region
		want   string // "" for ErrBadResponse
	}{
		{firmware.RegionSRAM, "sram"},
		{firmware.RegionPSRAM, "psram"},
		{firmware.RegionFlash, "flash"},
		{0, ""},
		{4, ""},
		{255, ""},
	}
	model := bytes.Repeat([]byte("tinyprof"), 100)
	for _, tt := range tests {
		t.Run(tt.region.String(), func(t *testing.T) {
			d := device.New(uploadBoard(t, tt.region), device.Options{})
			t.Cleanup(func() { d.Close() })
			_, err := d.Hello(t.Context())
			require.NoError(t, err)
			res, err := d.LoadModel(t.Context(), bytes.NewReader(model), int64(len(model)), device.LoadOptions{})
			if tt.want == "" {
				require.ErrorIs(t, err, device.ErrBadResponse)
				assert.ErrorContains(t, err, "unknown memory region")
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, res.Region)
		})
	}
}

// uploadBoard is a minimal board on an in-memory line that answers HELLO
// and an in-order upload, and reports region in MODEL_DONE.
func uploadBoard(t *testing.T, region firmware.Region) net.Conn {
	t.Helper()
	host, board := net.Pipe()
	var wg sync.WaitGroup
	wg.Go(func() {
		h := sha256.New()
		var got uint32
		dec := firmware.NewDecoder(firmware.DefaultMaxPayload)
		answer := func(seq uint16, m firmware.Message) { _, _ = board.Write(firmware.Encode(seq, m)) }
		buf := make([]byte, 4096)
		for {
			n, err := board.Read(buf)
			dec.Feed(buf[:n], func(e firmware.Event) {
				if e.Kind != firmware.EventFrame {
					return
				}
				msg, err := firmware.Decode(e.Frame)
				if err != nil {
					return
				}
				switch m := msg.(type) {
				case *firmware.Hello:
					answer(e.Frame.Seq, &firmware.Info{ProtocolVersion: firmware.ProtocolVersion, Platform: "fake",
						MaxPayload: firmware.DefaultMaxPayload, BootID: 7})
				case *firmware.ModelBegin:
					answer(e.Frame.Seq, &firmware.ModelAck{ChunkSize: m.ChunkSize, Window: m.Window})
				case *firmware.ModelChunk:
					if m.Offset == got {
						h.Write(m.Data)
						got += uint32(len(m.Data))
					}
					answer(e.Frame.Seq, &firmware.ModelAck{Offset: got})
				case *firmware.ModelEnd:
					done := &firmware.ModelDone{Region: region, Bytes: got}
					copy(done.SHA256[:], h.Sum(nil))
					answer(e.Frame.Seq, done)
				}
			})
			if err != nil {
				return
			}
		}
	})
	t.Cleanup(func() {
		host.Close()
		board.Close()
		wg.Wait()
	})
	return host
}

// endlessModel is a model of any size whose bytes cost nothing, counting
// what was read and cancelling cancel once more than after bytes were.
type endlessModel struct {
	mu     sync.Mutex
	read   int64
	after  int64
	cancel func()
}

func (m *endlessModel) ReadAt(p []byte, off int64) (int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.read += int64(len(p))
	if m.read > m.after && m.cancel != nil {
		m.cancel()
	}
	return len(p), nil
}

// LoadModel reads the model in bounded pieces as it hashes it and stops
// when its context ends: a 4 GiB model is not read to the end after
// Ctrl-C.
func TestLoadModelHashStopsOnCancel(t *testing.T) {
	d := device.New(uploadBoard(t, firmware.RegionPSRAM), device.Options{})
	t.Cleanup(func() { d.Close() })
	_, err := d.Hello(t.Context())
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	m := &endlessModel{after: 4 << 20, cancel: cancel}
	_, err = d.LoadModel(ctx, m, 1<<32-1, device.LoadOptions{})
	require.ErrorIs(t, err, context.Canceled)
	m.mu.Lock()
	defer m.mu.Unlock()
	require.LessOrEqual(t, m.read, int64(6<<20), "read a megabyte at a time, stopping at the cancel")
}

// A model file that ends before its stated size is an error, not a hash
// of zeros.
func TestLoadModelShortFile(t *testing.T) {
	d := device.New(uploadBoard(t, firmware.RegionPSRAM), device.Options{})
	t.Cleanup(func() { d.Close() })
	_, err := d.Hello(t.Context())
	require.NoError(t, err)
	_, err = d.LoadModel(t.Context(), bytes.NewReader(make([]byte, 100)), 200, device.LoadOptions{})
	require.ErrorContains(t, err, "the file ended at 100 of 200 bytes")
}
