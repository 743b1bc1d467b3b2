package rfc2217_test

import (
	"context"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tinyprof/tinyprof/serialport/rfc2217"
)

// misbehave listens on loopback and runs script on the first connection:
// a peer that breaks the protocol in one way. It is not an RFC 2217
// server — those are ser2net and pyserial — only a fault.
func misbehave(t *testing.T, script func(net.Conn)) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		c, err := l.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		script(c)
	}()
	t.Cleanup(func() {
		l.Close()
		wg.Wait()
	})
	return l.Addr().String()
}

// untilClosed reads and discards until the client hangs up.
func untilClosed(c net.Conn) { io.Copy(io.Discard, c) }

const (
	iac, sb, se, will, wont, do, dont = 255, 250, 240, 251, 252, 253, 254
)

func TestMisbehavingServers(t *testing.T) {
	flood := make([]byte, 0, 3<<20)
	for len(flood) < cap(flood)-3 {
		flood = append(flood, iac, do, 99) // DO an option we refuse, endlessly
	}
	tests := []struct {
		name   string
		script func(net.Conn)
		kind   rfc2217.Kind
		says   string
	}{
		{"silent", untilClosed, rfc2217.Timeout, "sent nothing"},
		{"raw TCP port", func(c net.Conn) { c.Write([]byte("ESP-ROM:esp32s3\r\n")); untilClosed(c) },
			rfc2217.Protocol, "raw TCP port"},
		{"plain telnet, no COM-PORT-OPTION", func(c net.Conn) {
			c.Write([]byte{iac, do, 0, iac, will, 0, iac, dont, 44})
			untilClosed(c)
		}, rfc2217.Protocol, "refused COM-PORT-OPTION"},
		{"no binary mode", func(c net.Conn) {
			c.Write([]byte{iac, dont, 0, iac, wont, 0, iac, do, 44})
			untilClosed(c)
		}, rfc2217.Protocol, "BINARY"},
		{"port in use", func(c net.Conn) { c.Write([]byte("Port already in use\r\n")) }, rfc2217.Busy, "in use"},
		{"hangs up", func(c net.Conn) {}, rfc2217.Closed, "closed the connection"},
		{"endless subnegotiation", func(c net.Conn) {
			c.Write([]byte{iac, sb, 44})
			for i := 0; i < 1000; i++ {
				if _, err := c.Write(make([]byte, 1024)); err != nil {
					return
				}
			}
			untilClosed(c)
		}, rfc2217.Protocol, "longer than 256 bytes"},
		{"negotiation flood, never reads", func(c net.Conn) {
			c.Write([]byte{iac, do, 0, iac, will, 0, iac, do, 44})
			c.Write(flood) // blocks once both socket buffers fill
		}, rfc2217.Timeout, "set baud rate"},
		{"wrong baud rate", func(c net.Conn) {
			c.Write([]byte{iac, do, 0, iac, will, 0, iac, do, 44})
			buf := make([]byte, 64)
			for {
				n, err := c.Read(buf)
				if err != nil {
					return
				}
				// Answer any SET-BAUDRATE with 9600.
				for i := 0; i+3 < n; i++ {
					if buf[i] == iac && buf[i+1] == sb && buf[i+2] == 44 && buf[i+3] == 1 {
						c.Write([]byte{iac, sb, 44, 101, 0, 0, 0x25, 0x80, iac, se})
					}
				}
			}
		}, rfc2217.Settings, "asked for 115200, the server set 9600"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel() // several wait out the acknowledgement timeout
			addr := misbehave(t, tt.script)
			ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
			defer cancel()
			c, err := rfc2217.Dial(ctx, addr, rfc2217.Options{AckTimeout: time.Second})
			if c != nil {
				c.Close()
			}
			var re *rfc2217.Error
			require.ErrorAs(t, err, &re)
			assert.Equal(t, tt.kind, re.Kind, "%v", err)
			assert.Contains(t, err.Error(), tt.says)
		})
	}
}

func TestDialUnreachable(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := l.Addr().String()
	l.Close() // nothing listens here now
	_, err = rfc2217.Dial(t.Context(), addr, rfc2217.Options{})
	var re *rfc2217.Error
	require.ErrorAs(t, err, &re)
	assert.Equal(t, rfc2217.Unreachable, re.Kind)
}

func TestDialHonoursTheContext(t *testing.T) {
	addr := misbehave(t, untilClosed)
	ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
	defer cancel()
	// The acknowledgement timeout is longer: the context must win.
	_, err := rfc2217.Dial(ctx, addr, rfc2217.Options{AckTimeout: time.Minute})
	require.ErrorIs(t, err, context.DeadlineExceeded)
	var re *rfc2217.Error
	require.ErrorAs(t, err, &re)
	assert.Equal(t, rfc2217.Timeout, re.Kind)
}

func TestBadOptions(t *testing.T) {
	for _, o := range []rfc2217.Options{{DataBits: 9}, {Parity: 9}, {StopBits: 7}, {Baud: -1}} {
		_, err := rfc2217.Dial(t.Context(), "127.0.0.1:1", o)
		var re *rfc2217.Error
		require.ErrorAs(t, err, &re, "%+v", o)
		assert.Equal(t, rfc2217.Settings, re.Kind)
	}
}
