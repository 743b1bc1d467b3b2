package device_test

import (
	"bufio"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tinyprof/tinyprof/device"
	"github.com/tinyprof/tinyprof/device/sim"
	"github.com/tinyprof/tinyprof/serialport"
)

// TestHelperHoldPort is not a test: run by TestPortBusyAcrossProcesses as
// a child process, it opens the port named in its environment, says so,
// and holds it until its standard input closes.
func TestHelperHoldPort(t *testing.T) {
	path := os.Getenv("TINYPROF_TEST_HOLD_PORT")
	if path == "" {
		t.Skip("helper process only")
	}
	p, err := serialport.Open(t.Context(), path, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	os.Stdout.WriteString("held\n")
	io.Copy(io.Discard, os.Stdin)
}

// TestPortBusyAcrossProcesses: a port another process holds fails at once
// with the busy error, naming the holder, also when running as root (for
// whom the kernel's exclusive-open flag does nothing).
func TestPortBusyAcrossProcesses(t *testing.T) {
	b := sim.Start(t, sim.Options{})
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperHoldPort$")
	cmd.Env = append(os.Environ(), "TINYPROF_TEST_HOLD_PORT="+b.Path)
	stdin, err := cmd.StdinPipe()
	require.NoError(t, err)
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	defer func() { stdin.Close(); cmd.Wait() }()
	line, err := bufio.NewReader(stdout).ReadString('\n')
	require.NoError(t, err, "the holder opened the port")
	require.Equal(t, "held\n", line)

	start := time.Now()
	_, err = device.Open(t.Context(), b.Path, device.Options{})
	require.ErrorIs(t, err, device.ErrPortBusy)
	assert.Contains(t, err.Error(), "pid "+strconv.Itoa(cmd.Process.Pid), "the error names the holder")
	assert.Less(t, time.Since(start), 5*time.Second, "at once, not after a timeout")
	if os.Geteuid() == 0 {
		t.Log("ran as root: the flock, not TIOCEXCL, refused the second open")
	}
	assert.True(t, strings.Contains(err.Error(), "close it and retry"))
}
