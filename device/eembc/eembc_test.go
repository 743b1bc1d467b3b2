package eembc_test

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.bug.st/serial"
	"go.uber.org/goleak"

	"github.com/tinyprof/tinyprof/device/eembc"
	"github.com/tinyprof/tinyprof/internal/pty"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// dutFaults are ways the simulated DUT misbehaves.
type dutFaults struct {
	silent     bool // prints nothing
	chatty     bool // prints debug lines and a stale m-ready everywhere
	oneLap     bool // prints only one m-lap-us
	badResults bool // prints m-results-[0.1,oops]
	wrapTimer  bool // a 32-bit µs timer wraps during the inference
}

// dut simulates an EEMBC performance-mode DUT running kws01 on the master
// side of a pty: 16 760 µs per inference, like the NUCLEO-H7A3ZI-Q.
type dut struct {
	f     dutFaults
	w     *os.File
	clock uint64
	want  int
	buf   []byte
}

func (d *dut) print(lines ...string) {
	if d.f.silent {
		return
	}
	var b bytes.Buffer
	for _, l := range lines {
		b.WriteString(l + "\r\n")
	}
	_, _ = d.w.Write(b.Bytes())
}

func (d *dut) run(r *os.File) {
	d.print("m-timestamp-mode-performance", "m-init-done", "m-ready")
	var cmd []byte
	buf := make([]byte, 256)
	for {
		n, err := r.Read(buf)
		for _, c := range buf[:n] {
			if c != '%' {
				if len(cmd) < eembc.MaxCommand-1 {
					cmd = append(cmd, c)
				}
				continue
			}
			d.command(string(cmd))
			cmd = cmd[:0]
		}
		if err != nil {
			return
		}
	}
}

func (d *dut) command(cmd string) {
	if d.f.chatty {
		d.print("dbg: got "+cmd, "m-ready")
	}
	f := strings.Fields(cmd)
	switch {
	case cmd == "name":
		d.print("m-name-dut-[tinyprof sim]")
	case cmd == "profile":
		d.print("m-profile-[ULPMark for tinyML Firmware V0.0.1]", "m-model-[kws01]")
	case len(f) == 3 && f[0] == "db" && f[1] == "load":
		n, err := strconv.Atoi(f[2])
		if err != nil || n <= 0 {
			d.print("e-[Command 'db load' must be >0 bytes]")
			break
		}
		d.want, d.buf = n, nil
		d.print(fmt.Sprintf("m-[Expecting %d bytes]", n))
	case len(f) == 2 && f[0] == "db":
		b, err := hex.DecodeString(f[1])
		if err != nil {
			d.print("e-[Invalid hex digit]")
			break
		}
		d.buf = append(d.buf, b...)
		if len(d.buf) == d.want {
			d.print("m-load-done")
		}
	case len(f) == 3 && f[0] == "infer":
		n, _ := strconv.Atoi(f[1])
		w, _ := strconv.Atoi(f[2])
		if d.f.wrapTimer {
			d.clock = 1<<32 - 1000
		}
		start := d.clock
		d.clock += uint64(n) * 16760
		if d.f.wrapTimer {
			d.clock &= 1<<32 - 1
		}
		lines := []string{fmt.Sprintf("m-warmup-start-%d", w), "m-warmup-done", fmt.Sprintf("m-infer-start-%d", n),
			fmt.Sprintf("m-lap-us-%d", start)}
		if !d.f.oneLap {
			lines = append(lines, fmt.Sprintf("m-lap-us-%d", d.clock))
		}
		lines = append(lines, "m-infer-done", d.results())
		d.print(lines...)
	case cmd == "results":
		d.print(d.results())
	default:
		d.print(fmt.Sprintf("e-[Unknown command: %s]", cmd))
	}
	d.print("m-ready")
}

func (d *dut) results() string {
	if d.f.badResults {
		return "m-results-[0.100,oops]"
	}
	return "m-results-[0.000,0.998,0.002]"
}

// startDUT starts a simulated DUT behind a pty and returns a client that
// opens the pty's slave with go.bug.st/serial, as it would a real board.
func startDUT(t *testing.T, f dutFaults, opts eembc.Options) *eembc.Client {
	t.Helper()
	pair, err := pty.Open()
	require.NoError(t, err)
	d := &dut{f: f, w: pair.Master, clock: 22037117}
	var wg sync.WaitGroup
	wg.Go(func() { d.run(pair.Master) })
	port, err := serial.Open(pair.Path, &serial.Mode{BaudRate: 115200})
	if err != nil {
		pair.Close()
		wg.Wait()
		require.NoError(t, err)
	}
	c := eembc.New(port, opts)
	t.Cleanup(func() {
		_ = c.Close()
		_ = port.Close()
		_ = pair.Close()
		wg.Wait()
	})
	return c
}

func TestSession(t *testing.T) {
	for _, f := range []dutFaults{{}, {chatty: true}} {
		t.Run(fmt.Sprintf("chatty=%v", f.chatty), func(t *testing.T) {
			c := startDUT(t, f, eembc.Options{})
			ctx := t.Context()
			name, err := c.Name(ctx)
			require.NoError(t, err)
			assert.Equal(t, "tinyprof sim", name)

			p, err := c.Profile(ctx)
			require.NoError(t, err)
			assert.Equal(t, eembc.Profile{Firmware: "ULPMark for tinyML Firmware V0.0.1", Model: "kws01"}, p)

			input := bytes.Repeat([]byte{0x00, 0x7F, 0xFF, 0x10, 0x20}, 98) // 490 bytes, as kws01
			require.NoError(t, c.Load(ctx, input))

			in, err := c.Infer(ctx, 800, 1)
			require.NoError(t, err)
			want := eembc.Inference{N: 800, Warmup: 1, ElapsedUS: 800 * 16760, Results: []float64{0, 0.998, 0.002}}
			if diff := cmp.Diff(want, in); diff != "" {
				t.Errorf("Infer (-want +got):\n%s", diff)
			}
			assert.InDelta(t, 59.666, in.Throughput(), 0.001)

			res, err := c.Results(ctx)
			require.NoError(t, err)
			assert.Equal(t, []float64{0, 0.998, 0.002}, res)

			if f.chatty {
				return // a stale m-ready ends a reply to Command, which expects no particular line
			}
			var dutErr *eembc.DUTError
			_, err = c.Command(ctx, "bogus")
			require.ErrorAs(t, err, &dutErr)
			assert.Equal(t, "Unknown command: bogus", dutErr.Text)
		})
	}
}

func TestMalformedReplies(t *testing.T) {
	tests := []struct {
		name   string
		faults dutFaults
		want   string
	}{
		{"one timestamp", dutFaults{oneLap: true}, "1 m-lap-us lines, want 2"},
		{"bad results", dutFaults{badResults: true}, "malformed results line"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := startDUT(t, tt.faults, eembc.Options{})
			_, err := c.Infer(t.Context(), 10, 0)
			require.ErrorContains(t, err, tt.want)
		})
	}
}

func TestTimerWrap(t *testing.T) {
	c := startDUT(t, dutFaults{wrapTimer: true}, eembc.Options{})
	in, err := c.Infer(t.Context(), 10, 0)
	require.NoError(t, err)
	assert.Equal(t, uint64(10*16760), in.ElapsedUS)
}

func TestSilentBoard(t *testing.T) {
	c := startDUT(t, dutFaults{silent: true}, eembc.Options{Timeout: 100 * time.Millisecond, InferTimeout: 100 * time.Millisecond})
	_, err := c.Name(t.Context())
	require.ErrorIs(t, err, eembc.ErrNoReady)
	_, err = c.Infer(t.Context(), 1, 0)
	require.ErrorIs(t, err, eembc.ErrNoReady)
}

func TestCommandTooLong(t *testing.T) {
	c := startDUT(t, dutFaults{}, eembc.Options{})
	_, err := c.Command(t.Context(), strings.Repeat("x", eembc.MaxCommand))
	require.Error(t, err)
}

func TestMedianThroughput(t *testing.T) {
	w := func(us uint64) eembc.Inference { return eembc.Inference{N: 800, ElapsedUS: us} }
	got := eembc.MedianThroughput([]eembc.Inference{w(13_407_640), w(10_000_000), w(20_000_000), w(13_000_000), w(14_000_000)})
	assert.InDelta(t, 800/13.407640, got, 1e-9)
	assert.Zero(t, eembc.MedianThroughput(nil))
}
