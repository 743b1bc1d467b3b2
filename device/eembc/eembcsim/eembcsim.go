// Package eembcsim is a simulated MLPerf Tiny (EEMBC EnergyRunner) DUT in
// performance mode, behind a real pseudo-terminal, for tests and for
// running `tiny-profiler benchmark --protocol eembc` without a board.
//
// It follows the reference firmware's command parser
// (mlcommons/tiny benchmark/api/internally_implemented.cpp, see
// shared/research/profiling_anchors.md §1.2–1.3): commands end in '%',
// replies end in "\r\n", every command is answered by "m-ready", and
// "infer N W" prints its two m-lap-us timestamps from a 32-bit microsecond
// counter. The counter is virtual: each inference advances it by the
// modelled InferenceUS, so a 10-second MLPerf window costs no real time.
// Its timings are modelled, not measured.
package eembcsim

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"hash/fnv"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tinyprof/tinyprof/device/eembc"
	"github.com/tinyprof/tinyprof/internal/pty"
)

// Options configures a simulated DUT. The zero value is a kws01 DUT taking
// 16,760 µs per inference, like the NUCLEO-H7A3ZI-Q's kws01 result in
// MLPerf Tiny v1.0 (profiling_anchors.md §1.8).
type Options struct {
	Vendor      string // m-name-dut-[Vendor]; default "tinyprof simulated"
	Model       string // m-model-[Model]; default "kws01"
	InferenceUS uint64 // modelled time of one inference; default 16760
	PrePostUS   uint64 // th_pre + th_post inside the timed window; default 0
	Results     int    // scores printed per inference; default 12 (kws01's classes)
	MaxInput    int    // db load limit; default 27648 (MAX_DB_INPUT_SIZE)
	Silent      bool   // answer nothing, as a board without the firmware
	Chatty      bool   // print debug lines and a stale m-ready before replies, as many ports do
	// Results, if set, are the scores every inference prints; otherwise
	// they are derived from the input, deterministically.
	FixedResults []float64
	// ClockStart is the µs counter at boot; set it near 1<<32 to make the
	// 32-bit timer wrap during a window. Default 1,000,000.
	ClockStart uint64
	OneLap     bool // print only one m-lap-us per infer (a broken port)
	BadResults bool // print a malformed m-results line
	// InputSize is the input tensor th_load_tensor takes, in bytes: at
	// "infer", an input of another size is refused with the reference
	// firmware's complaint ("Input db has 16 elemented, expected 490") and
	// the inference runs on the tensor it had. Default: the model's
	// (eembc.ReferenceFor), else any size; -1 takes any size.
	InputSize int
	// ColdInferences is how many inferences after boot take ColdUS each
	// instead of InferenceUS, as on a DUT whose caches and clocks have not
	// settled.
	ColdInferences int
	ColdUS         uint64
	// Leftover are bytes already in the DUT's command buffer at boot —
	// line noise, or another protocol's bytes — so the first command fails
	// as "Unknown command".
	Leftover string
	// RealTime is the real time each modelled second of inference takes
	// (0: none), so that a slow DUT is slow by the host's clock too.
	RealTime float64
	// HangAt, if positive, makes the DUT hang in its HangAt-th "infer": it
	// prints m-warmup-start and then nothing, ever.
	HangAt int
}

// DUT is a running simulated DUT. Close it when done (Start does it for you).
//
// Like the reference firmware, it crashes on a command whose buffer begins
// with a NUL byte, as a tinyprof frame's leading delimiter leaves it: the
// reference parser's strtok then finds no token, and the MLCommons
// reference built for the host dies on the NULL (issue 15 §4). A crashed
// DUT answers nothing more, ever; Crashed reports whether it has.
type DUT struct {
	// Path is the pseudo-terminal to open.
	Path string

	opts Options
	pair *pty.Pair
	done chan struct{}

	stop chan struct{} // closed by Close, to end a RealTime wait

	mu         sync.Mutex
	clock      uint64 // virtual µs since boot
	want       int
	buf        []byte
	scores     []float64
	inferences int // since boot, warm-ups included
	infers     int // infer commands
	hung       bool
	crashed    bool
	cmd        []byte // the command buffer, up to its '%'
}

// Listen starts a DUT behind a new pseudo-terminal. The caller must Close it.
func Listen(opts Options) (*DUT, error) {
	if opts.Vendor == "" {
		opts.Vendor = "tinyprof simulated"
	}
	if opts.Model == "" {
		opts.Model = "kws01"
	}
	if opts.InferenceUS == 0 {
		opts.InferenceUS = 16760
	}
	if opts.Results <= 0 {
		opts.Results = 12
	}
	if opts.MaxInput <= 0 {
		opts.MaxInput = 96 * 96 * 3
	}
	if opts.InputSize == 0 {
		if r, ok := eembc.ReferenceFor(opts.Model); ok {
			opts.InputSize = r.InputSize
		}
	}
	p, err := pty.Open()
	if err != nil {
		return nil, fmt.Errorf("simulated EEMBC DUT: %w", err)
	}
	if opts.ClockStart == 0 {
		opts.ClockStart = 1_000_000
	}
	d := &DUT{Path: p.Path, opts: opts, pair: p, done: make(chan struct{}), stop: make(chan struct{}), clock: opts.ClockStart}
	go d.run()
	return d, nil
}

// Start starts a DUT and closes it when the test ends.
func Start(tb testing.TB, opts Options) *DUT {
	tb.Helper()
	d, err := Listen(opts)
	if err != nil {
		tb.Fatalf("eembcsim.Start: %v", err)
	}
	tb.Cleanup(func() { d.Close() })
	return d
}

// Close stops the DUT and waits for it.
func (d *DUT) Close() error {
	close(d.stop)
	err := d.pair.Close()
	<-d.done
	return err
}

// Crashed reports whether the DUT has crashed on a command that began with
// a NUL byte.
func (d *DUT) Crashed() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.crashed
}

func (d *DUT) print(lines ...string) {
	if d.opts.Silent {
		return
	}
	var b bytes.Buffer
	for _, l := range lines {
		b.WriteString(l + "\r\n")
	}
	_, _ = d.pair.Master.Write(b.Bytes())
}

func (d *DUT) run() {
	defer close(d.done)
	d.print("m-timestamp-mode-performance", "m-init-done", "m-ready")
	d.mu.Lock()
	d.cmd = []byte(d.opts.Leftover)
	d.mu.Unlock()
	buf := make([]byte, 512)
	for {
		n, err := d.pair.Master.Read(buf)
		for _, c := range buf[:n] {
			d.mu.Lock()
			var ready string
			switch c {
			case '%':
				ready, d.cmd = string(d.cmd), d.cmd[:0]
			case '\r', '\n':
				// The reference parser takes these as part of the command,
				// which then fails; the EEMBC guide warns against them.
				d.cmd = append(d.cmd, c)
			default:
				if len(d.cmd) < 79 { // EE_CMD_SIZE 80 with the NUL
					d.cmd = append(d.cmd, c)
				}
			}
			d.mu.Unlock()
			if c == '%' {
				d.command(ready)
			}
		}
		if err != nil {
			return
		}
	}
}

// Reset restarts the DUT as its reset line would, as the opening of a
// port resets many boards: its command buffer is emptied, a crash or a
// hang is over, its clock restarts, and it prints its boot lines.
func (d *DUT) Reset() {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.cmd, d.hung, d.crashed = d.cmd[:0], false, false
	d.clock, d.inferences, d.infers, d.want, d.buf = d.opts.ClockStart, 0, 0, 0, d.buf[:0]
	d.print("m-timestamp-mode-performance", "m-init-done", "m-ready")
}

func (d *DUT) command(cmd string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.hung {
		return
	}
	if len(cmd) > 0 && cmd[0] == 0 {
		d.hung, d.crashed = true, true
		return
	}
	if d.opts.Chatty {
		d.print("[dbg] rx "+strconv.Itoa(len(cmd))+" bytes", "m-ready")
	}
	f := strings.Split(cmd, " ")
	switch {
	case cmd == "name":
		d.print("m-name-dut-[" + d.opts.Vendor + "]")
	case cmd == "profile":
		d.print("m-profile-[ULPMark for tinyML Firmware V0.0.1]", "m-model-["+d.opts.Model+"]")
	case cmd == "timestamp":
		d.print(d.lap())
	case len(f) == 3 && f[0] == "db" && f[1] == "load":
		n, err := strconv.Atoi(f[2])
		switch {
		case err != nil || n <= 0:
			d.print("e-[Command 'db load' must be >0 bytes]")
		case n > d.opts.MaxInput:
			d.print(fmt.Sprintf("Supplied buffer size %d exceeds maximum of %d", n, d.opts.MaxInput))
		default:
			d.want, d.buf = n, d.buf[:0]
			d.print(fmt.Sprintf("m-[Expecting %d bytes]", n))
		}
	case len(f) == 2 && f[0] == "db":
		if len(f[1])%2 != 0 {
			d.print("e-[Insufficent number of hex digits]") // sic, as the reference prints it
			break
		}
		b, err := hex.DecodeString(f[1])
		if err != nil {
			d.print("e-[Invalid hex digit]")
			break
		}
		d.buf = append(d.buf, b...)
		if len(d.buf) == d.want {
			d.print("m-load-done")
		}
	case len(f) >= 2 && f[0] == "infer":
		n, err := strconv.Atoi(f[1])
		w := 10 // the reference's default when W is omitted
		if len(f) == 3 {
			w, _ = strconv.Atoi(f[2])
		}
		if err != nil || n <= 0 {
			d.print("e-[infer requires a positive count]")
			break
		}
		if d.infers++; d.infers == d.opts.HangAt {
			d.print(fmt.Sprintf("m-warmup-start-%d", w))
			d.hung = true
			return
		}
		if m := d.opts.InputSize; m > 0 && len(d.buf) != m {
			// As th_load_tensor: count elements, complain, keep the old tensor.
			size := 1
			if d.opts.Model == "ad01" {
				size = 4 // float32 features
			}
			d.print(fmt.Sprintf("Input db has %d elemented, expected %d", len(d.buf)/size, m/size))
		}
		// Each line as the reference prints it, after the time it follows.
		d.print(fmt.Sprintf("m-warmup-start-%d", w))
		d.wait(d.infer(w))
		d.print("m-warmup-done", fmt.Sprintf("m-infer-start-%d", n), d.lap())
		d.wait(d.infer(n) + d.opts.PrePostUS)
		d.clock += d.opts.PrePostUS
		d.scores = d.score()
		var lines []string
		if !d.opts.OneLap {
			lines = append(lines, d.lap())
		}
		lines = append(lines, "m-infer-done", d.results())
		d.print(lines...)
	case cmd == "results":
		d.print(d.results())
	default:
		d.print("e-[Unknown command: " + cmd + "]")
	}
	d.print("m-ready")
}

// infer advances the clock by n inferences and returns the µs they took.
func (d *DUT) infer(n int) uint64 {
	var us uint64
	for range n {
		if d.inferences < d.opts.ColdInferences {
			us += d.opts.ColdUS
		} else {
			us += d.opts.InferenceUS
		}
		d.inferences++
	}
	d.clock += us
	return us
}

// wait spends us of modelled time in real time, scaled by RealTime, or
// until Close.
func (d *DUT) wait(us uint64) {
	if d.opts.RealTime <= 0 {
		return
	}
	t := time.NewTimer(time.Duration(float64(us) * d.opts.RealTime * float64(time.Microsecond)))
	defer t.Stop()
	select {
	case <-t.C:
	case <-d.stop:
	}
}

// lap prints the 32-bit µs counter, as us_ticker_read() does.
func (d *DUT) lap() string { return fmt.Sprintf("m-lap-us-%d", uint32(d.clock)) }

// score derives deterministic class scores from the loaded input, so that
// the same input always gives the same results.
func (d *DUT) score() []float64 {
	if d.opts.FixedResults != nil {
		return d.opts.FixedResults
	}
	h := fnv.New64a()
	h.Write(d.buf)
	s := h.Sum64()
	out := make([]float64, d.opts.Results)
	for i := range out {
		s = s*6364136223846793005 + 1442695040888963407
		out[i] = float64(s>>40) / float64(1<<24)
	}
	return out
}

func (d *DUT) results() string {
	if d.opts.BadResults {
		return "m-results-[0.100,oops]"
	}
	var parts []string
	for _, v := range d.scores {
		parts = append(parts, strconv.FormatFloat(v, 'f', 3, 64))
	}
	if len(parts) == 0 {
		for range d.opts.Results {
			parts = append(parts, "0.000")
		}
	}
	return "m-results-[" + strings.Join(parts, ",") + "]"
}
