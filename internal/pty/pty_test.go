package pty

import (
	"io"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestRawRoundTrip(t *testing.T) {
	p, err := Open()
	require.NoError(t, err)
	defer p.Close()
	msg := []byte{0x00, 'a', '\n', 0xFF, '\r', 0x03}
	_, err = p.Slave.Write(msg)
	require.NoError(t, err)
	got := make([]byte, len(msg))
	require.NoError(t, p.Master.SetReadDeadline(time.Now().Add(5*time.Second)))
	_, err = io.ReadFull(p.Master, got)
	require.NoError(t, err)
	require.Equal(t, msg, got, "raw mode: no echo, no CR/LF translation")
}

func TestCloseInterruptsRead(t *testing.T) {
	p, err := Open()
	require.NoError(t, err)
	done := make(chan error, 1)
	go func() {
		_, err := p.Master.Read(make([]byte, 1))
		done <- err
	}()
	require.NoError(t, p.Close())
	require.Error(t, <-done)
}

func TestCloseTwiceIsNotAnError(t *testing.T) {
	p, err := Open()
	require.NoError(t, err)
	require.NoError(t, p.Master.Close())
	require.NoError(t, p.Close())
}
