package serialport_test

import (
	"bufio"
	"errors"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tinyprof/tinyprof/internal/pty"
	"github.com/tinyprof/tinyprof/serialport"
)

// TestPlainHolderIsRefused: a program that opened the port without a lock
// (here `sleep` with the port as its standard input, as a terminal program
// would hold it) would read the board's bytes, so Open refuses the port and
// names it; once it is gone the port opens.
func TestPlainHolderIsRefused(t *testing.T) {
	pair, err := pty.Open()
	require.NoError(t, err)
	t.Cleanup(func() { pair.Close() })

	f, err := os.OpenFile(pair.Path, os.O_RDWR, 0)
	require.NoError(t, err)
	cmd := exec.CommandContext(t.Context(), "sleep", "60")
	cmd.Stdin = f
	require.NoError(t, cmd.Start())
	f.Close()
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })

	_, err = serialport.Open(t.Context(), pair.Path, 0)
	var pe *serialport.Error
	require.True(t, errors.As(err, &pe), "got %v", err)
	assert.Equal(t, serialport.Busy, pe.Kind)
	assert.Contains(t, err.Error(), "pid "+strconv.Itoa(cmd.Process.Pid)+" (sleep)")
	assert.Contains(t, err.Error(), "without a lock")
	assert.NotContains(t, err.Error(), "pid "+strconv.Itoa(os.Getpid()), "our own process, which serves the pty, is not a holder")

	require.NoError(t, cmd.Process.Kill())
	cmd.Wait()
	p, err := serialport.Open(t.Context(), pair.Path, 0)
	require.NoError(t, err, "the holder is gone")
	p.Close()
}

// TestServerIsNotAHolder: the process serving a pseudo-terminal (holding
// its master, as a simulated board or QEMU's -serial pty does) has the
// slave open too, but it is the board, not a client: Open succeeds.
func TestServerIsNotAHolder(t *testing.T) {
	py, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("python3 not found; it serves the pty from another process")
	}
	cmd := exec.CommandContext(t.Context(), py, "-c",
		"import os,pty,sys,time\nm,s=pty.openpty()\nprint(os.ttyname(s),flush=True)\nsys.stdin.read()")
	stdin, err := cmd.StdinPipe()
	require.NoError(t, err)
	out, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	t.Cleanup(func() { stdin.Close(); cmd.Wait() })
	line, err := bufio.NewReader(out).ReadString('\n')
	require.NoError(t, err)
	path := strings.TrimSpace(line)
	require.True(t, strings.HasPrefix(path, "/dev/pts/"), path)

	p, err := serialport.Open(t.Context(), path, 0)
	require.NoError(t, err, "the pty's server holds it, but it is not a client")
	p.Close()
}
