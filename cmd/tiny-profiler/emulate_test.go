package main

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tinyprof/tinyprof/device"
	"github.com/tinyprof/tinyprof/lab"
)

// syncBuffer is a bytes.Buffer safe for the command's goroutine and the
// test's.
type syncBuffer struct {
	mu  chan struct{}
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu <- struct{}{}
	defer func() { <-b.mu }()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu <- struct{}{}
	defer func() { <-b.mu }()
	return b.buf.String()
}

// emulate serves the firmware on the pty it prints, the real serial client
// talks to it, and cancelling the command (Ctrl-C) stops QEMU with it.
func TestEmulateCommand(t *testing.T) {
	lab.NeedEmulation(t)
	pr, pw := io.Pipe()
	stderr := &syncBuffer{mu: make(chan struct{}, 1)}
	root := newRoot(pw, stderr)
	root.SetArgs([]string{"emulate", "--machine", "mps2-an500", "--seed", "7"})
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	done := make(chan error, 1)
	go func() {
		err := root.ExecuteContext(ctx)
		pw.Close()
		done <- err
	}()

	line, err := bufio.NewReader(pr).ReadString('\n')
	require.NoError(t, err, "emulate printed its pty; stderr: %s", stderr.String())
	path := strings.TrimSpace(line)
	require.True(t, strings.HasPrefix(path, "/dev/pts/"), path)
	go io.Copy(io.Discard, pr)

	d, err := device.Open(ctx, path, device.Options{Timeout: 5 * time.Second})
	require.NoError(t, err)
	assert.Equal(t, "mps2-an500", d.Info().Platform)
	require.NoError(t, d.Close())
	assert.Contains(t, stderr.String(), "emulated: QEMU mps2-an500, instruction-count time, not cycle-accurate")

	cancel()
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(10 * time.Second):
		t.Fatal("emulate did not stop when cancelled")
	}
	_, err = os.Stat(path)
	assert.Error(t, err, "QEMU's pty is gone once emulate returns")
}
