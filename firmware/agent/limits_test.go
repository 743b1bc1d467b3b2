package agent

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/stretchr/testify/require"

	"github.com/tinyprof/tinyprof/firmware"
)

// stuckTimeout bounds each wait for a frame. It only runs out when the
// agent is stuck or has lost the frame.
const stuckTimeout = 10 * time.Second

// frameReader reads the frames a host agent sends, skipping text, and
// fails the test on a corrupt block.
type frameReader struct {
	p       *proc
	dec     *firmware.Decoder
	pending []firmware.Frame
	bad     []error
}

func newFrameReader(p *proc) *frameReader {
	return &frameReader{p: p, dec: firmware.NewDecoder(firmware.MaxPayloadLimit)}
}

// next returns the next frame, whose payload must be at most limit bytes.
func (r *frameReader) next(t *testing.T, limit int) firmware.Frame {
	t.Helper()
	buf := make([]byte, 4096)
	for len(r.pending) == 0 {
		require.NoError(t, r.p.Master.SetReadDeadline(time.Now().Add(stuckTimeout)))
		n, err := r.p.Master.Read(buf)
		r.dec.Feed(buf[:n], func(e firmware.Event) {
			switch e.Kind {
			case firmware.EventFrame:
				r.pending = append(r.pending, e.Frame)
			case firmware.EventBad:
				r.bad = append(r.bad, fmt.Errorf("%d-byte block: %w", e.Len, e.Err))
			}
		})
		require.NoError(t, errors.Join(r.bad...), "the agent sent corrupt blocks")
		if errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("no frame within %v (agent alive %v)", stuckTimeout, r.p.alive())
		}
		require.NoError(t, err)
	}
	f := r.pending[0]
	r.pending = r.pending[1:]
	require.LessOrEqual(t, len(f.Payload), limit, "%v payload over the %d-byte limit", f.Type, limit)
	return f
}

// message returns the next frame decoded, which must be a T.
func message[T firmware.Message](t *testing.T, r *frameReader, limit int) (uint16, T) {
	t.Helper()
	f := r.next(t, limit)
	m, err := firmware.Decode(f)
	require.NoError(t, err, "decode %v %x", f.Type, f.Payload)
	got, ok := m.(T)
	require.True(t, ok, "got %v, want %T", f.Type, *new(T))
	return f.Seq, got
}

// send writes one request to the agent.
func send(t *testing.T, p *proc, seq uint16, m firmware.Message) {
	t.Helper()
	require.NoError(t, p.Master.SetWriteDeadline(time.Now().Add(stuckTimeout)))
	_, err := p.Master.Write(firmware.Encode(seq, m))
	require.NoError(t, err)
}

// pingData returns n bytes with zeros and runs longer than 254 bytes, so
// that its COBS encoding uses every kind of code byte.
func pingData(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		if i%300 < 280 {
			b[i] = byte(i%251) + 1
		}
	}
	return b
}

// TestLongReplyArrivesWhole sends a PING with the largest payload to
// agents built with transmit stages around and above 255 bytes, and
// requires the PONG to carry every byte (a u8 stage index once cut a
// 511-byte stage's output to 255 bytes).
func TestLongReplyArrivesWhole(t *testing.T) {
	for _, stage := range []int{255, 256, 511, 1024} {
		t.Run(fmt.Sprint(stage), func(t *testing.T) {
			p := start(t, buildHost(t, fmt.Sprintf("-DTP_TX_STAGE=%d", stage)))
			r := newFrameReader(p)
			message[*firmware.Info](t, r, firmware.DefaultMaxPayload) // the boot INFO
			want := pingData(firmware.DefaultMaxPayload)
			send(t, p, 7, &firmware.Ping{Data: want})
			seq, pong := message[*firmware.Pong](t, r, firmware.DefaultMaxPayload)
			require.Equal(t, uint16(7), seq)
			if !cmp.Equal(want, pong.Data) {
				t.Errorf("PONG carries %d bytes, want the PING's %d:\n%s", len(pong.Data), len(want), cmp.Diff(want, pong.Data))
			}
		})
	}
}

// TestRepliesFitThePayload gives the agent INFO strings and a boot LOG
// longer than its payload limit, or a host that states a small limit in
// HELLO, and requires every reply to fit the limit and decode, with its
// strings cut at UTF-8 boundaries and INFO's platform kept whole.
func TestRepliesFitThePayload(t *testing.T) {
	const (
		fw   = "tinyprof-agent/0.1.0"
		chip = "ESP32-S3 — rev0.2 dual-core" // at 64 bytes the cut falls inside "—"
	)
	env := []string{"TINYPROF_FIRMWARE=" + fw, "TINYPROF_PLATFORM=esp32s3", "TINYPROF_CHIP=" + chip,
		"TINYPROF_BOOT_LOG=log: " + strings.Repeat("€", 300)}
	info := func(fw, chip string, maxPayload uint16) *firmware.Info {
		return &firmware.Info{ProtocolVersion: 1, Firmware: fw, Platform: "esp32s3", Chip: chip, CPUMHz: 1000,
			SRAM: 512 << 10, Flash: 4 << 20, MaxPayload: maxPayload, Capabilities: 2}
	}
	ignoreBoot := cmpopts.IgnoreFields(firmware.Info{}, "BootID")
	for _, tc := range []struct {
		name     string
		flags    []string
		env      []string
		bootMax  int            // the limit before HELLO
		bootInfo *firmware.Info // the boot INFO
		bootLog  string         // the boot LOG's text
		hello    uint16         // if not 0, HELLO states this limit
		helloAns *firmware.Info // INFO answering HELLO
	}{{
		name:     "payload 64",
		flags:    smallest,
		env:      env,
		bootMax:  64,
		bootInfo: info(fw, "ESP32-S3 ", 64),
		bootLog:  "log: " + strings.Repeat("€", 16),
		hello:    1024,
		helloAns: info(fw, "ESP32-S3 ", 64),
	}, {
		name:  "payload 64, firmware string too long",
		flags: smallest,
		env: []string{"TINYPROF_FIRMWARE=tinyprof-agent/0.1.0+build.20261201-éé", "TINYPROF_PLATFORM=esp32s3",
			"TINYPROF_CHIP=" + chip, "TINYPROF_BOOT_LOG=é"},
		bootMax:  64,
		bootInfo: info("tinyprof-agent/0.1.0+build.202", "E", 64),
		bootLog:  "é",
	}, {
		name:     "payload 1024, host limit 64",
		env:      env,
		bootMax:  1024,
		bootInfo: info(fw, chip, 1024),
		bootLog:  "log: " + strings.Repeat("€", 83), // a string holds 255 bytes
		hello:    64,
		helloAns: info(fw, "ESP32-S3 ", 1024),
	}} {
		t.Run(tc.name, func(t *testing.T) {
			p := start(t, buildHost(t, tc.flags...), tc.env...)
			r := newFrameReader(p)
			_, boot := message[*firmware.Info](t, r, tc.bootMax)
			if diff := cmp.Diff(tc.bootInfo, boot, ignoreBoot); diff != "" {
				t.Errorf("boot INFO (-want +got):\n%s", diff)
			}
			_, log := message[*firmware.Log](t, r, tc.bootMax)
			require.True(t, utf8.ValidString(log.Text), "LOG text %q is not UTF-8", log.Text)
			require.Equal(t, tc.bootLog, log.Text)
			if tc.hello == 0 {
				return
			}
			limit := int(min(tc.hello, uint16(tc.bootMax)))
			send(t, p, 1, &firmware.Hello{ProtocolVersion: 1, MaxPayload: tc.hello})
			seq, ans := message[*firmware.Info](t, r, limit)
			require.Equal(t, uint16(1), seq)
			if diff := cmp.Diff(tc.helloAns, ans, ignoreBoot); diff != "" {
				t.Errorf("INFO answering HELLO (-want +got):\n%s", diff)
			}

			if limit < tc.bootMax {
				// A PING the agent can receive but not echo within the
				// host's limit is refused, not echoed too long.
				send(t, p, 2, &firmware.Ping{Data: pingData(limit + 1)})
				seq, e := message[*firmware.Error](t, r, limit)
				require.Equal(t, uint16(2), seq)
				require.Equal(t, firmware.CodeBadRequest, e.Code, "ERROR %q", e.Text)
			}
			send(t, p, 3, &firmware.Ping{Data: pingData(limit)})
			seq, pong := message[*firmware.Pong](t, r, limit)
			require.Equal(t, uint16(3), seq)
			require.Equal(t, pingData(limit), pong.Data)
		})
	}
}

// TestConfigRefused requires configurations the agent cannot honour to
// fail to compile with a message that names the limit.
func TestConfigRefused(t *testing.T) {
	cc := compiler(t)
	for _, tc := range []struct {
		flag, want string
	}{
		{"-DTP_MAX_PAYLOAD=63", "TP_MAX_PAYLOAD must be within 64..16384"},
		{"-DTP_MAX_PAYLOAD=16385", "TP_MAX_PAYLOAD must be within 64..16384"},
		{"-DTP_RX_RING=96", "TP_RX_RING must be a power of two"},
		{"-DTP_TX_STAGE=0", "TP_TX_STAGE must be within 1..32768"},
		{"-DTP_TX_STAGE=32769", "TP_TX_STAGE must be within 1..32768"},
	} {
		t.Run(tc.flag, func(t *testing.T) {
			cmd := exec.CommandContext(t.Context(), cc, "-std=c99", "-I.", tc.flag, "-fsyntax-only", "tinyprof_agent.c")
			out, err := cmd.CombinedOutput()
			require.Error(t, err, "%s compiled", tc.flag)
			require.Contains(t, string(out), tc.want)
		})
	}
}
