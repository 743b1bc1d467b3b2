package device_test

import (
	"bytes"
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
