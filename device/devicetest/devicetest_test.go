package devicetest_test

import (
	"bytes"
	"errors"
	"io"
	"os"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/tinyprof/tinyprof/device"
	"github.com/tinyprof/tinyprof/device/devicetest"
	"github.com/tinyprof/tinyprof/firmware"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestWrappers: each wrapper breaks the bytes of its direction in exactly
// the way it says, and leaves the other direction alone.
func TestWrappers(t *testing.T) {
	ping := firmware.Encode(1, &firmware.Ping{Data: []byte{1, 2}}) // 0x00 … 0x00
	msg := []byte("0123456789")
	tests := []struct {
		name string
		wrap func(device.Transport, devicetest.Direction) device.Transport
		in   []byte
		want []byte
	}{
		{"drop every 3rd", func(tr device.Transport, d devicetest.Direction) device.Transport {
			return devicetest.Drop(tr, d, devicetest.Every(3))
		}, msg, []byte("0134679")},
		{"drop at", func(tr device.Transport, d devicetest.Direction) device.Transport {
			return devicetest.Drop(tr, d, devicetest.At(0, 9))
		}, msg, []byte("12345678")},
		{"duplicate every 5th", func(tr device.Transport, d devicetest.Direction) device.Transport {
			return devicetest.Duplicate(tr, d, devicetest.Every(5))
		}, msg, []byte("012344567899")},
		{"flip", func(tr device.Transport, d devicetest.Direction) device.Transport {
			return devicetest.Flip(tr, d, devicetest.At(1), 0x01)
		}, msg, []byte("0023456789")},
		{"frame end", func(tr device.Transport, d devicetest.Direction) device.Transport {
			return devicetest.Drop(tr, d, devicetest.FrameEnd(firmware.TypePing, 1))
		}, append(append([]byte(nil), ping...), ping...), append(append([]byte(nil), ping[:len(ping)-1]...), ping...)},
		{"split", func(tr device.Transport, d devicetest.Direction) device.Transport {
			return devicetest.Split(tr, d, 3)
		}, msg, msg},
		{"delay", func(tr device.Transport, d devicetest.Direction) device.Transport {
			return devicetest.Delay(tr, d, time.Millisecond)
		}, msg, msg},
		{"cut after 4", func(tr device.Transport, d devicetest.Direction) device.Transport {
			return devicetest.CutAfter(tr, d, 4)
		}, msg, []byte("0123")},
	}
	for _, tt := range tests {
		for _, dir := range []devicetest.Direction{devicetest.ToBoard, devicetest.ToHost} {
			t.Run(tt.name+" "+dir.String(), func(t *testing.T) {
				host, board := devicetest.Pipe(devicetest.PipeOptions{})
				defer board.Close()
				tr := tt.wrap(host, dir)
				defer tr.Close()
				var got []byte
				if dir == devicetest.ToBoard {
					tr.Write(tt.in) // a cut line fails the write
					host.Close()
					got, _ = io.ReadAll(board)
				} else {
					board.Write(tt.in)
					board.Close()
					got = readAll(t, tr)
				}
				if diff := cmp.Diff(tt.want, got); diff != "" {
					t.Errorf("bytes %s (-want +got):\n%s", dir, diff)
				}
			})
		}
	}
}

// readAll reads until the line ends, even on a transport that returns
// what is buffered after the other end closed.
func readAll(t *testing.T, r io.Reader) []byte {
	t.Helper()
	var out []byte
	buf := make([]byte, 7)
	for {
		n, err := r.Read(buf)
		out = append(out, buf[:n]...)
		if err != nil {
			return out
		}
	}
}

// TestSplitPassesPieces: Split hands over at most n bytes a Read.
func TestSplitPassesPieces(t *testing.T) {
	host, board := devicetest.Pipe(devicetest.PipeOptions{})
	defer host.Close()
	tr := devicetest.Split(host, devicetest.ToHost, 2)
	board.Write([]byte("abcde"))
	buf := make([]byte, 10)
	for _, want := range []string{"ab", "cd", "e"} {
		n, err := tr.Read(buf)
		require.NoError(t, err)
		assert.Equal(t, want, string(buf[:n]))
	}
}

// TestPipeReadTimeout: a quiet line's Read returns a timeout, as the
// device.Transport contract says, and Close unblocks a pending Read.
func TestPipeReadTimeout(t *testing.T) {
	host, board := devicetest.Pipe(devicetest.PipeOptions{ReadTimeout: time.Millisecond})
	defer board.Close()
	_, err := host.Read(make([]byte, 1))
	require.ErrorIs(t, err, os.ErrDeadlineExceeded)
	var to interface{ Timeout() bool }
	require.True(t, errors.As(err, &to) && to.Timeout())

	quiet, other := devicetest.Pipe(devicetest.PipeOptions{})
	done := make(chan error, 1)
	go func() { _, err := quiet.Read(make([]byte, 1)); done <- err }()
	other.Close()
	require.ErrorIs(t, <-done, io.EOF)
}

// TestHonestBoard: the honest board serves a real Device end to end.
func TestHonestBoard(t *testing.T) {
	h := devicetest.NewHonest()
	d := device.New(devicetest.Start(t, h.Answer, devicetest.PipeOptions{}), device.Options{})
	defer d.Close()
	info, err := d.Hello(t.Context())
	require.NoError(t, err)
	assert.Equal(t, "scripted", info.Platform)
	model := bytes.Repeat([]byte("m"), 5000)
	res, err := d.LoadModel(t.Context(), bytes.NewReader(model), int64(len(model)), device.LoadOptions{})
	require.NoError(t, err)
	assert.Equal(t, int64(5000), res.Size)
	g, err := d.Generate(t.Context(), device.GenerateRequest{MaxTokens: 40})
	require.NoError(t, err)
	assert.Len(t, g.Tokens, 40)
	assert.Empty(t, g.Problems(info, device.Envelope{}))
	_, err = d.Reset(t.Context())
	require.NoError(t, err)
}
