package flash

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Progress is one report of a running flasher, parsed from its output.
type Progress struct {
	Step    int     // index into Plan.Steps
	Phase   string  // the step's phase, or what the flasher says it is doing: "erase", "write", "verify"
	Percent float64 // 0–100; -1 when the line says what, not how far
	Line    string  // the flasher's line
}

// RunOptions configures Run.
type RunOptions struct {
	// Timeout bounds each step. Default 5 minutes: a 16 MiB ESP32-S3 image
	// takes about 3 minutes at 921600 baud.
	Timeout time.Duration
	// OnProgress, if set, is called from Run's goroutine for every line
	// that reports progress.
	OnProgress func(Progress)
	// Output, if set, receives the flasher's output as it runs.
	Output io.Writer
	// Env, if set, is the flasher's environment. Default: Run's own.
	Env []string
}

// ToolError is a flasher that exited non-zero, with the end of its output.
type ToolError struct {
	Tool     string
	Phase    string
	ExitCode int
	Tail     []string // its last lines of output
	Hint     string
}

func (e *ToolError) Error() string {
	s := fmt.Sprintf("%s (%s) exited with status %d", e.Tool, e.Phase, e.ExitCode)
	if len(e.Tail) > 0 {
		s += ": " + strings.Join(e.Tail, " | ")
	}
	if e.Hint != "" {
		s += " (" + e.Hint + ")"
	}
	return s
}

func (e *ToolError) Is(target error) bool { return target == ErrFlasher }

// Run runs the plan's steps in order, stopping at the first failure. A
// step that outlives RunOptions.Timeout or ctx is killed with its process
// group, and Run returns once it has exited. The output it keeps is
// bounded: the last 20 lines, each at most 4 KiB.
func Run(ctx context.Context, plan *Plan, opts RunOptions) error {
	if opts.Timeout <= 0 {
		opts.Timeout = 5 * time.Minute
	}
	for i, s := range plan.Steps {
		if err := runStep(ctx, plan.Tool, i, s, opts); err != nil {
			return err
		}
	}
	return nil
}

func runStep(ctx context.Context, tool string, idx int, s Step, opts RunOptions) error {
	sctx, cancel := context.WithTimeout(ctx, opts.Timeout)
	defer cancel()
	cmd := exec.CommandContext(sctx, s.Path, s.Args...)
	cmd.Env = opts.Env
	// Kill the whole process group: esptool.py is often a shell wrapper
	// around python, and killing only the wrapper would leave the port held.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 2 * time.Second
	pr, pw := io.Pipe()
	cmd.Stdout, cmd.Stderr = pw, pw
	if err := cmd.Start(); err != nil {
		pw.Close()
		pr.Close()
		return fmt.Errorf("%w: start %s: %v", ErrFlasher, s.Path, err)
	}
	tail := &tailLines{max: 20}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		scanProgress(pr, func(line string) {
			tail.add(line)
			if opts.Output != nil {
				fmt.Fprintln(opts.Output, line)
			}
			if opts.OnProgress != nil {
				if p, ok := ParseProgress(line); ok {
					p.Step = idx
					if p.Phase == "" {
						p.Phase = s.Phase
					}
					opts.OnProgress(p)
				}
			}
		})
		io.Copy(io.Discard, pr) // keep draining if the scanner stopped early
	}()
	werr := cmd.Wait()
	pw.Close()
	wg.Wait()
	pr.Close()
	switch {
	case sctx.Err() == context.DeadlineExceeded && ctx.Err() == nil:
		return fmt.Errorf("%w: %s (%s) did not finish within %v and was killed: the board may be stuck in its bootloader; power-cycle it and retry, or raise --flash-timeout; last output: %s",
			ErrTimeout, tool, s.Phase, opts.Timeout, strings.Join(tail.lines, " | "))
	case ctx.Err() != nil:
		return fmt.Errorf("%s (%s) interrupted: %w", tool, s.Phase, ctx.Err())
	case werr != nil:
		code := -1
		var ee *exec.ExitError
		if errors.As(werr, &ee) {
			code = ee.ExitCode()
		}
		return &ToolError{Tool: tool, Phase: s.Phase, ExitCode: code, Tail: tail.lines, Hint: hintFor(tool, tail.lines)}
	}
	return nil
}

// hintFor reads a failed flasher's output for the usual causes.
func hintFor(tool string, lines []string) string {
	all := strings.ToLower(strings.Join(lines, "\n"))
	switch {
	case strings.Contains(all, "permission denied"):
		return "add yourself to the dialout (serial) or plugdev (USB) group, then log in again"
	case strings.Contains(all, "failed to connect") || strings.Contains(all, "no serial data received") || strings.Contains(all, "wrong boot mode"):
		return "hold BOOT (IO0) while pressing RESET to enter the download mode, or check the port"
	case strings.Contains(all, "resource busy") || strings.Contains(all, "could not exclusively lock"):
		return "another program holds the port: close serial monitors and tiny-profiler sessions"
	case strings.Contains(all, "no accessible") || strings.Contains(all, "no stlink") || strings.Contains(all, "couldn't find any st-link") || strings.Contains(all, "no debuggers"):
		return "the probe or board is not visible over USB: check the cable and udev rules, or hold BOOTSEL while plugging in an RP2040"
	case strings.Contains(all, "verif") && (strings.Contains(all, "fail") || strings.Contains(all, "mismatch")):
		return "the flash reads back differently: erase it and retry; a repeat means failing flash or power"
	}
	return ""
}

// tailLines keeps the last max lines.
type tailLines struct {
	mu    sync.Mutex
	max   int
	lines []string
}

func (t *tailLines) add(l string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.lines = append(t.lines, l)
	if len(t.lines) > t.max {
		t.lines = t.lines[1:]
	}
}

// scanProgress calls fn with each line of r, splitting on \n and on \r
// (flashers redraw progress bars with carriage returns). Lines longer
// than 4 KiB are cut.
func scanProgress(r io.Reader, fn func(string)) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 4096), 4096)
	sc.Split(func(data []byte, atEOF bool) (int, []byte, error) {
		if i := bytes.IndexAny(data, "\r\n"); i >= 0 {
			return i + 1, data[:i], nil
		}
		if len(data) >= 4096 {
			return len(data), data, nil
		}
		if atEOF && len(data) > 0 {
			return len(data), data, nil
		}
		return 0, nil, nil
	})
	for sc.Scan() {
		if line := strings.TrimSpace(sc.Text()); line != "" {
			fn(line)
		}
	}
}

var (
	// esptool v4: "Writing at 0x00010000... (12 %)"; v5: "Writing at
	// 0x00010000 [=====>     ] 24.5% 12288/50000 bytes...".
	espWriting = regexp.MustCompile(`^Writing at 0x[0-9a-fA-F]+.*?(\d+(?:\.\d+)?)\s?%`)
	// st-flash: "36/36 pages written".
	stPages = regexp.MustCompile(`(\d+)/(\d+) pages written`)
	// picotool: "Loading into Flash:   [=====    ]  42%", "Verifying Flash: ...".
	picoBar = regexp.MustCompile(`^(Erasing|Loading into Flash|Loading into RAM|Verifying Flash|Verifying RAM):.*?(\d+(?:\.\d+)?)%`)
	// STM32_Programmer_CLI prints a bar ending in "  42%" while downloading.
	anyPercent = regexp.MustCompile(`(\d+(?:\.\d+)?)\s?%\s*$`)
)

// phaseWords are lines that say what a flasher is doing without a figure.
var phaseWords = []struct{ prefix, phase string }{
	{"Erasing", "erase"}, {"Hash of data verified", "verify"}, {"Verifying", "verify"},
	{"Verify successful", "verify"}, {"Verified OK", "verify"}, {"Flash written and verified", "verify"},
	{"Starting verification", "verify"}, {"Programming", "write"}, {"Wrote ", "write"},
	{"Hard resetting", "reset"}, {"Applying system reset", "reset"}, {"The device was rebooted", "reset"},
	{"Connecting", "connect"}, {"Parsing image file", "parse"},
}

// ParseProgress reads one line of flasher output. It reports a percentage
// where the line has one (esptool, picotool, st-flash pages,
// STM32_Programmer_CLI), and otherwise the phase a line names, with
// Percent -1.
func ParseProgress(line string) (Progress, bool) {
	if m := espWriting.FindStringSubmatch(line); m != nil {
		return Progress{Phase: "write", Percent: atof(m[1]), Line: line}, true
	}
	if m := stPages.FindStringSubmatch(line); m != nil {
		done, total := atof(m[1]), atof(m[2])
		if total > 0 {
			return Progress{Phase: "write", Percent: 100 * done / total, Line: line}, true
		}
	}
	if m := picoBar.FindStringSubmatch(line); m != nil {
		phase := "write"
		switch {
		case strings.HasPrefix(m[1], "Erasing"):
			phase = "erase"
		case strings.HasPrefix(m[1], "Verifying"):
			phase = "verify"
		}
		return Progress{Phase: phase, Percent: atof(m[2]), Line: line}, true
	}
	for _, w := range phaseWords {
		if strings.HasPrefix(line, w.prefix) {
			return Progress{Phase: w.phase, Percent: -1, Line: line}, true
		}
	}
	if m := anyPercent.FindStringSubmatch(line); m != nil {
		if p := atof(m[1]); p <= 100 {
			return Progress{Percent: p, Line: line}, true
		}
	}
	return Progress{}, false
}

func atof(s string) float64 {
	f, _ := strconv.ParseFloat(s, 64)
	return f
}
