package eembc_test

import (
	"bufio"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tinyprof/tinyprof/device/eembc"
)

// TestLateReadyDoesNotEndTheNextReply: a DUT that answers a command only
// after the host gave up on it prints that command's "m-ready" while the
// next command is being answered. The next command must not take it for
// its own end.
func TestLateReadyDoesNotEndTheNextReply(t *testing.T) {
	host, dut := net.Pipe()
	var sent []string
	var wg sync.WaitGroup
	wg.Go(func() {
		r := bufio.NewReader(dut)
		late := false
		for n := 0; ; n++ {
			cmd, err := r.ReadString('%')
			if err != nil {
				return
			}
			sent = append(sent, cmd)
			if n == 0 {
				late = true // answered only once the next command is in
				continue
			}
			var reply string
			if late {
				reply, late = "m-ready\r\n", false
			}
			switch cmd {
			case "name%":
				reply += "m-name-dut-[late]\r\nm-ready\r\n"
			case "db load 4%":
				reply += "m-[Expecting 4 bytes]\r\nm-ready\r\n"
			default:
				reply += "e-[unknown command]\r\nm-ready\r\n"
			}
			if _, err := io.WriteString(dut, reply); err != nil {
				return
			}
		}
	})
	c := eembc.New(host, eembc.Options{Timeout: 200 * time.Millisecond})
	t.Cleanup(func() {
		_ = c.Close()
		host.Close()
		dut.Close()
		wg.Wait()
	})

	_, err := c.Command(t.Context(), "db load 4")
	require.ErrorIs(t, err, eembc.ErrNoReady)

	lines, err := c.Command(t.Context(), "db load 4")
	require.NoError(t, err)
	assert.Equal(t, []string{"m-[Expecting 4 bytes]"}, lines, "the reply to this command, not the late m-ready")

	lines, err = c.Command(t.Context(), "db load 4")
	require.NoError(t, err)
	assert.Equal(t, []string{"m-[Expecting 4 bytes]"}, lines)
	assert.Equal(t, []string{"db load 4%", "name%", "db load 4%", "db load 4%"}, sent, "one resynchronisation, after the time-out only")
}
