// Package eembc drives an MLPerf Tiny device under test through the EEMBC
// EnergyRunner serial protocol in performance mode: commands end in '%',
// replies are "m-…" lines ending with "m-ready", errors are "e-[…]" lines
// (mlcommons/tiny benchmark/api/internally_implemented.cpp).
package eembc

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// MaxCommand is the longest command a DUT buffers (EE_CMD_SIZE), its '%'
// terminator included.
const MaxCommand = 80

// DefaultChunk is how many input bytes one "db" command carries: 31 bytes
// are 62 hex digits, "db " and "%" make 66 characters, as the MLCommons
// runner sends.
const DefaultChunk = 31

// maxLine bounds one line from the DUT; longer lines are cut.
const maxLine = 4096

// maxQueued bounds the lines buffered between commands.
const maxQueued = 4096

// ErrNoReady reports a DUT that did not finish a reply with "m-ready" in
// time: it is not connected, not running the EEMBC firmware, or at another
// baud rate. Every *TimeoutError is ErrNoReady (errors.Is).
var ErrNoReady = errors.New("no m-ready from the DUT before the timeout; check the port, baud rate and firmware")

// TimeoutError is a reply that did not end with "m-ready" within its
// time-out. A reply that began (Partial) comes from a DUT that is
// connected and speaks the protocol but is busy or hung, which the message
// says instead of blaming the port.
type TimeoutError struct {
	Command string
	After   time.Duration
	Partial []string // the reply's m- lines that did arrive
}

func (e *TimeoutError) Error() string {
	if len(e.Partial) == 0 {
		return ErrNoReady.Error() // nothing came: it may well be the port
	}
	return fmt.Sprintf("the reply began (%s) but did not end with m-ready within %v: the DUT is still busy or hung",
		e.Partial[len(e.Partial)-1], round(e.After))
}

// Is makes a TimeoutError match ErrNoReady.
func (e *TimeoutError) Is(target error) bool { return target == ErrNoReady }

// DUTError is an "e-[…]" line the DUT printed in reply to Command.
type DUTError struct {
	Command string
	Text    string
}

func (e *DUTError) Error() string { return fmt.Sprintf("eembc: %s: DUT error: %s", e.Command, e.Text) }

// Options configures a Client. The zero value is usable.
type Options struct {
	// Timeout bounds the reply to one command. Zero means 5 s, the
	// EnergyRunner's default-timeout-ms.
	Timeout time.Duration
	// InferTimeout bounds an "infer" command sent with Infer, and the
	// single inference with which Run first times the DUT; Run scales
	// the time-outs of its later inferences from that. Zero means 60 s.
	InferTimeout time.Duration
	// Chunk is the input bytes per "db" command. Zero means DefaultChunk;
	// it is lowered to fit MaxCommand.
	Chunk int
}

// Client talks to one DUT. Its methods must not be called concurrently.
type Client struct {
	rw   io.ReadWriter
	opts Options

	mu      sync.Mutex
	lines   []string
	readErr error
	notify  chan struct{}
	done    chan struct{}
	closing atomic.Bool

	// stale lists the commands that ended without their "m-ready" (a
	// time-out) since the last reply that ended properly: their replies
	// may still come, after the next command is sent, and would be taken
	// for that command's.
	stale []string
}

// probes are the commands a resynchronisation may send: side-effect free,
// with a reply that names itself.
var probes = []struct{ cmd, want string }{
	{"name", "m-name-dut-"},
	{"profile", "m-model-"},
	{"results", "m-results-"},
}

type readDeadliner interface{ SetReadDeadline(time.Time) error }

// New returns a client for the DUT on rw and starts reading rw in a
// goroutine. Close stops it if rw has a SetReadDeadline method; otherwise
// the goroutine ends when the caller closes rw.
func New(rw io.ReadWriter, opts Options) *Client {
	if opts.Timeout <= 0 {
		opts.Timeout = 5 * time.Second
	}
	if opts.InferTimeout <= 0 {
		opts.InferTimeout = 60 * time.Second
	}
	if opts.Chunk <= 0 {
		opts.Chunk = DefaultChunk
	}
	opts.Chunk = min(opts.Chunk, (MaxCommand-len("db %"))/2)
	c := &Client{rw: rw, opts: opts, notify: make(chan struct{}, 1), done: make(chan struct{})}
	go c.readLoop()
	return c
}

// Close stops the reader (see New). It does not close rw.
func (c *Client) Close() error {
	rd, ok := c.rw.(readDeadliner)
	if !ok {
		return nil
	}
	c.closing.Store(true)
	if err := rd.SetReadDeadline(time.Now()); err != nil {
		return err
	}
	<-c.done
	return rd.SetReadDeadline(time.Time{})
}

// readLoop splits the DUT's output into lines, dropping CR and NUL as the
// MLCommons runner does.
func (c *Client) readLoop() {
	defer close(c.done)
	buf := make([]byte, 1024)
	var line []byte
	for {
		n, err := c.rw.Read(buf)
		for _, b := range buf[:n] {
			switch {
			case b == '\n':
				c.push(string(line))
				line = line[:0]
			case b == '\r' || b == 0:
			case len(line) < maxLine:
				line = append(line, b)
			}
		}
		if err != nil {
			// A transport's periodic read time-out (serialport.Port
			// has one) is a quiet line, not an end; the deadline Close
			// sets is.
			var te interface{ Timeout() bool }
			if errors.As(err, &te) && te.Timeout() && !c.closing.Load() {
				continue
			}
			c.mu.Lock()
			c.readErr = err
			c.mu.Unlock()
			c.signal()
			return
		}
	}
}

func (c *Client) push(line string) {
	c.mu.Lock()
	if len(c.lines) < maxQueued {
		c.lines = append(c.lines, line)
	}
	c.mu.Unlock()
	c.signal()
}

func (c *Client) signal() {
	select {
	case c.notify <- struct{}{}:
	default:
	}
}

// next returns the next line, waiting until deadline at most.
func (c *Client) next(ctx context.Context, t *time.Timer) (string, error) {
	for {
		c.mu.Lock()
		if len(c.lines) > 0 {
			l := c.lines[0]
			c.lines = c.lines[1:]
			c.mu.Unlock()
			return l, nil
		}
		err := c.readErr
		c.mu.Unlock()
		if err != nil {
			return "", fmt.Errorf("eembc: read: %w", err)
		}
		select {
		case <-c.notify:
		case <-t.C:
			return "", ErrNoReady
		case <-ctx.Done():
			return "", ctx.Err()
		}
	}
}

// reply is what a DUT printed in answer to one command: its "m-" lines,
// without "m-ready", and the other lines (debug output, or complaints such
// as the reference firmware's "Input db has 16 elemented, expected 490").
type reply struct {
	m, other []string
}

// maxOther bounds the other lines one reply keeps.
const maxOther = 64

// Command sends cmd (without its '%') and returns the "m-" lines of the
// reply, without "m-ready". It returns a *DUTError if the DUT printed an
// "e-" line, and ignores other lines (debug output). Lines left over from
// before the command are discarded. After a command that timed out, the
// next one first resynchronises: it sends "name" (or "profile" if "name"
// was the command that timed out) and reads until that command's own
// reply has ended, so that a late reply cannot be taken for the next
// command's.
func (c *Client) Command(ctx context.Context, cmd string) ([]string, error) {
	r, err := c.command(ctx, cmd, c.opts.Timeout, "")
	return r.m, err
}

// command is Command with a timeout, and, if want is not empty, it reads
// past any "m-ready" until a line starting with want has arrived: a stale
// "m-ready" (from a boot or an earlier timed-out command) then cannot end
// the reply early.
func (c *Client) command(ctx context.Context, cmd string, timeout time.Duration, want string) (reply, error) {
	if len(cmd)+1 > MaxCommand || strings.ContainsAny(cmd, "%\r\n") {
		return reply{}, fmt.Errorf("eembc: command %q: longer than %d bytes or contains %%, CR or LF", cmd, MaxCommand-1)
	}
	if len(c.stale) > 0 {
		// A probe none of the stale commands was, so that their late
		// replies cannot pass for its own.
		p := probes[0]
		for _, q := range probes {
			if !slices.Contains(c.stale, q.cmd) {
				p = q
				break
			}
		}
		if _, err := c.exchange(ctx, p.cmd, timeout, p.want, true); err != nil {
			return reply{}, fmt.Errorf("eembc: %s: resynchronising after a command that ended without its m-ready: %w", cmd, err)
		}
	}
	return c.exchange(ctx, cmd, timeout, want, false)
}

// exchange sends cmd and reads its reply, as command does, without
// resynchronising first. A probe takes every "e-" line and "m-ready"
// before its own reply's line for the end of a late reply.
func (c *Client) exchange(ctx context.Context, cmd string, timeout time.Duration, want string, probe bool) (reply, error) {
	c.mu.Lock()
	c.lines = c.lines[:0]
	c.mu.Unlock()
	if _, err := io.WriteString(c.rw, cmd+"%"); err != nil {
		return reply{}, fmt.Errorf("eembc: %s: write: %w", cmd, err)
	}
	c.stale = append(c.stale, cmd) // until its m-ready
	if len(c.stale) > len(probes) {
		c.stale = c.stale[len(c.stale)-len(probes):]
	}
	t := time.NewTimer(timeout)
	defer t.Stop()
	var out reply
	var dutErr *DUTError
	seen := want == ""
	for {
		l, err := c.next(ctx, t)
		if errors.Is(err, ErrNoReady) {
			err = &TimeoutError{Command: cmd, After: timeout, Partial: out.m}
		}
		if err != nil {
			return out, fmt.Errorf("eembc: %s: %w", cmd, err)
		}
		l = strings.TrimSpace(l)
		switch {
		case strings.HasSuffix(l, "m-ready"):
			if probe && !seen {
				out, dutErr = reply{}, nil // a late reply ended
				continue
			}
			if dutErr != nil {
				c.stale = c.stale[:0]
				return out, dutErr
			}
			if seen {
				c.stale = c.stale[:0]
				return out, nil
			}
		case strings.HasPrefix(l, "e-"):
			if dutErr == nil {
				dutErr = &DUTError{Command: cmd, Text: strings.TrimSuffix(strings.TrimPrefix(l, "e-["), "]")}
			}
		case strings.HasPrefix(l, "m-"):
			out.m = append(out.m, l)
			seen = seen || strings.HasPrefix(l, want)
		case l != "" && len(out.other) < maxOther:
			out.other = append(out.other, l)
		}
	}
}

// Name returns the vendor in the DUT's "m-name-dut-[vendor]".
func (c *Client) Name(ctx context.Context) (string, error) {
	r, err := c.command(ctx, "name", c.opts.Timeout, "m-name-dut-")
	if err != nil {
		return "", err
	}
	for _, l := range r.m {
		if v, ok := bracketed(l, "m-name-dut-"); ok {
			return v, nil
		}
	}
	return "", fmt.Errorf("eembc: name: no m-name-dut-[…] line in %q", r.m)
}

// Profile is what "profile" reports.
type Profile struct {
	Firmware string `json:"firmware"` // e.g. "ULPMark for tinyML Firmware V0.0.1"
	Model    string `json:"model"`    // kws01, vww01, ad01, ic01 or strww01
}

// Profile asks the DUT for its firmware and model.
func (c *Client) Profile(ctx context.Context) (Profile, error) {
	r, err := c.command(ctx, "profile", c.opts.Timeout, "m-model-")
	if err != nil {
		return Profile{}, err
	}
	var p Profile
	for _, l := range r.m {
		if v, ok := bracketed(l, "m-profile-"); ok {
			p.Firmware = v
		} else if v, ok := bracketed(l, "m-model-"); ok {
			p.Model = v
		}
	}
	if p.Model == "" {
		return p, fmt.Errorf("eembc: profile: no m-model-[…] line in %q", r.m)
	}
	return p, nil
}

// Load sends an input tensor: "db load N", then the bytes as hex in
// commands of Options.Chunk bytes. The last one must be answered by
// "m-load-done".
func (c *Client) Load(ctx context.Context, data []byte) error {
	if len(data) == 0 {
		return errors.New("eembc: load: no data")
	}
	r, err := c.command(ctx, fmt.Sprintf("db load %d", len(data)), c.opts.Timeout, "m-[Expecting")
	if err != nil {
		return err
	}
	if want := fmt.Sprintf("m-[Expecting %d bytes]", len(data)); !slices.Contains(r.m, want) {
		return fmt.Errorf("eembc: db load: reply %q lacks %q", r.m, want)
	}
	for off := 0; off < len(data); off += c.opts.Chunk {
		chunk := data[off:min(off+c.opts.Chunk, len(data))]
		want := ""
		if off+len(chunk) == len(data) {
			want = "m-load-done"
		}
		r, err := c.command(ctx, fmt.Sprintf("db %x", chunk), c.opts.Timeout, want)
		if err != nil {
			return fmt.Errorf("eembc: load at byte %d: %w", off, err)
		}
		if last := off+len(chunk) == len(data); last && !slices.Contains(r.m, "m-load-done") {
			return fmt.Errorf("eembc: load: no m-load-done after %d bytes (reply %q)", len(data), r.m)
		}
	}
	return nil
}

// Inference is the outcome of one "infer N W" in performance mode.
type Inference struct {
	N      int `json:"n"`
	Warmup int `json:"warmup"`
	// ElapsedUS is the time between the two m-lap-us timestamps: N
	// inferences plus th_pre and th_post.
	ElapsedUS uint64 `json:"elapsed_us"`
	// Results are the scores of the last inference (m-results-[…]).
	Results []float64 `json:"results"`
	// Messages are the other lines the DUT printed during the command:
	// debug output, or a complaint such as the reference firmware's
	// "Input db has 16 elemented, expected 490" (the input was not used).
	Messages []string `json:"messages,omitempty"`
}

// Throughput returns inferences per second, as the MLCommons runner
// computes it: N / (ElapsedUS / 1e6).
func (in Inference) Throughput() float64 {
	if in.ElapsedUS == 0 {
		return 0
	}
	return float64(in.N) / (float64(in.ElapsedUS) / 1e6)
}

// Infer runs n timed inferences after warmup untimed ones, within
// Options.InferTimeout. It always sends the warmup count: the reference
// firmware defaults it to 10.
func (c *Client) Infer(ctx context.Context, n, warmup int) (Inference, error) {
	return c.infer(ctx, n, warmup, c.opts.InferTimeout)
}

// infer is Infer within timeout.
func (c *Client) infer(ctx context.Context, n, warmup int, timeout time.Duration) (Inference, error) {
	if n <= 0 || warmup < 0 {
		return Inference{}, fmt.Errorf("eembc: infer %d %d: need n > 0 and warmup >= 0", n, warmup)
	}
	r, err := c.command(ctx, fmt.Sprintf("infer %d %d", n, warmup), timeout, "m-infer-done")
	if err != nil {
		return Inference{}, err
	}
	in := Inference{N: n, Warmup: warmup, Messages: r.other}
	var laps []uint64
	for _, l := range r.m {
		if v, ok := strings.CutPrefix(l, "m-lap-us-"); ok {
			us, err := strconv.ParseUint(v, 10, 64)
			if err != nil {
				return in, fmt.Errorf("eembc: infer: bad timestamp line %q", l)
			}
			laps = append(laps, us)
		} else if _, ok := bracketed(l, "m-results-"); ok {
			if in.Results, err = parseResults(l); err != nil {
				return in, err
			}
		}
	}
	if len(laps) != 2 {
		return in, fmt.Errorf("eembc: infer: %d m-lap-us lines, want 2 (is the DUT in energy mode?)", len(laps))
	}
	in.ElapsedUS = laps[1] - laps[0]
	if laps[1] < laps[0] {
		if laps[0] > 1<<32-1 {
			return in, fmt.Errorf("eembc: infer: timestamps go backwards: %d, %d", laps[0], laps[1])
		}
		in.ElapsedUS = laps[1] + 1<<32 - laps[0] // a 32-bit µs timer wrapped
	}
	return in, nil
}

// Results returns the scores of the last inference.
func (c *Client) Results(ctx context.Context) ([]float64, error) {
	r, err := c.command(ctx, "results", c.opts.Timeout, "m-results-")
	if err != nil {
		return nil, err
	}
	for _, l := range r.m {
		if _, ok := bracketed(l, "m-results-"); ok {
			return parseResults(l)
		}
	}
	return nil, fmt.Errorf("eembc: results: no m-results-[…] line in %q", r.m)
}

// MedianThroughput returns the median of the windows' throughputs, the
// figure MLPerf Tiny reports ("Median throughput is X inf./sec."); its
// inverse is the latency.
func MedianThroughput(windows []Inference) float64 {
	if len(windows) == 0 {
		return 0
	}
	t := make([]float64, len(windows))
	for i, w := range windows {
		t[i] = w.Throughput()
	}
	slices.Sort(t)
	if len(t)%2 == 1 {
		return t[len(t)/2]
	}
	return (t[len(t)/2-1] + t[len(t)/2]) / 2
}

// bracketed returns the text inside "prefix[…]".
func bracketed(line, prefix string) (string, bool) {
	v, ok := strings.CutPrefix(line, prefix+"[")
	if !ok || !strings.HasSuffix(v, "]") {
		return "", false
	}
	return strings.TrimSuffix(v, "]"), true
}

func parseResults(line string) ([]float64, error) {
	v, _ := bracketed(line, "m-results-")
	if v == "" {
		return nil, nil
	}
	var out []float64
	for f := range strings.SplitSeq(v, ",") {
		x, err := strconv.ParseFloat(strings.TrimSpace(f), 64)
		if err != nil {
			return nil, fmt.Errorf("eembc: malformed results line %q", line)
		}
		out = append(out, x)
	}
	return out, nil
}
