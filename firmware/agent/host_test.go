package agent

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tinyprof/tinyprof/internal/ctest"
	"github.com/tinyprof/tinyprof/internal/pty"
)

// compiler returns the system C compiler, or skips tb.
func compiler(tb testing.TB) string { return ctest.Compiler(tb, "the C agent") }

// sanitizers reports whether cc links programs with ASan and UBSan.
var sanitizers = ctest.Sanitizers

// builds caches the programs build made, by name, sanitizing and flags,
// in one directory for the test binary's run: several tests run the same
// configuration, and each compile with the sanitizers takes a while.
var builds struct {
	mu   sync.Mutex
	dir  string
	bins map[string]string
}

// removeBuilds deletes the cached programs; TestMain calls it last.
func removeBuilds() {
	builds.mu.Lock()
	defer builds.mu.Unlock()
	if builds.dir != "" {
		_ = os.RemoveAll(builds.dir)
		builds.dir, builds.bins = "", nil
	}
}

// build compiles the C sources (relative to this directory) into a program
// and returns its path. With sanitize, it uses ASan and UBSan when the
// compiler supports them, so memory errors abort. A program already built
// with the same name, sources and flags is reused.
func build(tb testing.TB, name string, sanitize bool, srcs []string, flags ...string) string {
	tb.Helper()
	cc := compiler(tb)
	args := []string{"-std=c99", "-O1", "-g", "-Wall", "-Wextra", "-Werror", "-I."}
	if sanitize && sanitizers() {
		args = append(args, "-fsanitize=address,undefined", "-fno-sanitize-recover=undefined", "-fno-omit-frame-pointer")
	}
	args = append(append(args, flags...), srcs...)
	key := name + "\x00" + cc + "\x00" + strings.Join(args, "\x00")

	builds.mu.Lock()
	defer builds.mu.Unlock()
	if bin, ok := builds.bins[key]; ok {
		return bin
	}
	if builds.dir == "" {
		dir, err := os.MkdirTemp("", "tinyprof-agent-build")
		require.NoError(tb, err)
		builds.dir, builds.bins = dir, map[string]string{}
	}
	out := filepath.Join(builds.dir, fmt.Sprintf("%s-%d", name, len(builds.bins)))
	cmd := exec.CommandContext(tb.Context(), cc, append(args, "-o", out)...)
	msg, err := cmd.CombinedOutput()
	require.NoError(tb, err, "%s %s:\n%s", cc, strings.Join(args, " "), msg)
	builds.bins[key] = out
	return out
}

// buildHost builds host/main.c with the agent, with ASan and UBSan where
// available; flags are extra compiler flags such as -DTP_MAX_PAYLOAD=64.
func buildHost(tb testing.TB, flags ...string) string {
	tb.Helper()
	return build(tb, "tinyprof-host", true, []string{"host/main.c", "tinyprof_agent.c"}, flags...)
}

// proc is a host agent running behind a pseudo-terminal.
type proc struct {
	// Master is the host's end of the line.
	Master *os.File
	stderr *lockedBuffer
	exited chan struct{}
}

// lockedBuffer is a bytes.Buffer safe for the writer goroutine of
// os/exec and a reader.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// start runs bin with its stdin and stdout on a new pty's slave. The
// cleanup kills it and fails tb if it wrote a sanitizer report.
func start(tb testing.TB, bin string, env ...string) *proc {
	tb.Helper()
	pair, err := pty.Open()
	require.NoError(tb, err)
	p := &proc{Master: pair.Master, stderr: new(lockedBuffer), exited: make(chan struct{})}
	cmd := exec.Command(bin)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = pair.Slave, pair.Slave, p.stderr
	cmd.Env = append(os.Environ(), env...)
	if err := cmd.Start(); err != nil {
		pair.Close()
		require.NoError(tb, err)
	}
	go func() {
		_ = cmd.Wait()
		close(p.exited)
	}()
	tb.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-p.exited
		_ = pair.Close()
		if s := p.stderr.String(); strings.Contains(s, "Sanitizer") || strings.Contains(s, "runtime error") {
			tb.Errorf("%s crashed:\n%s", filepath.Base(bin), s)
		}
	})
	return p
}

// alive reports whether the process is still running.
func (p *proc) alive() bool {
	select {
	case <-p.exited:
		return false
	default:
		return true
	}
}
