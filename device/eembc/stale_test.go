package eembc_test

import (
	"bufio"
	"context"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tinyprof/tinyprof/device/eembc"
)

// lateDUT answers its first command only once the next command is in, as
// a DUT that was slower than the host's time-out does, and every later
// command at once. It records the commands it got.
func lateDUT(t *testing.T, firstReply string) (*eembc.Client, func() []string) {
	host, dut := net.Pipe()
	var mu sync.Mutex
	var sent []string
	var wg sync.WaitGroup
	reply := func(cmd string) string {
		switch cmd {
		case "name%":
			return "m-name-dut-[late]\r\nm-ready\r\n"
		case "profile%":
			return "m-profile-[ULPMark-ML]\r\nm-model-[kws01]\r\nm-ready\r\n"
		case "db load 4%":
			return "m-[Expecting 4 bytes]\r\nm-ready\r\n"
		}
		return "e-[unknown command]\r\nm-ready\r\n"
	}
	wg.Go(func() {
		r := bufio.NewReader(dut)
		late := ""
		for n := 0; ; n++ {
			cmd, err := r.ReadString('%')
			if err != nil {
				return
			}
			mu.Lock()
			sent = append(sent, cmd)
			mu.Unlock()
			if n == 0 {
				late = reply(cmd) // answered only once the next command is in
				if firstReply != "" {
					late = firstReply
				}
				continue
			}
			out := late + reply(cmd)
			late = ""
			if _, err := io.WriteString(dut, out); err != nil {
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
	return c, func() []string { mu.Lock(); defer mu.Unlock(); return append([]string(nil), sent...) }
}

// TestLateReplyIsNotTheNextCommands: a DUT's late reply to a command the
// host gave up on arrives while the next command is answered. It must not
// be taken for that command's reply, whichever command timed out.
func TestLateReplyIsNotTheNextCommands(t *testing.T) {
	for _, tt := range []struct {
		first string
		call  func(ctx context.Context, c *eembc.Client) error
		sync  string // the resynchronising command
		late  string // the late reply, if not the usual one
	}{
		{"db load 4", func(ctx context.Context, c *eembc.Client) error { _, err := c.Command(ctx, "db load 4"); return err }, "name%", ""},
		{"name", func(ctx context.Context, c *eembc.Client) error { _, err := c.Name(ctx); return err }, "profile%", ""},
		{"db load 4 failing late", func(ctx context.Context, c *eembc.Client) error { _, err := c.Command(ctx, "db load 4"); return err }, "name%",
			"e-[bad parameter]\r\nm-ready\r\n"},
	} {
		t.Run(tt.first, func(t *testing.T) {
			c, sent := lateDUT(t, tt.late)
			require.ErrorIs(t, tt.call(t.Context(), c), eembc.ErrNoReady)

			lines, err := c.Command(t.Context(), "db load 4")
			require.NoError(t, err)
			assert.Equal(t, []string{"m-[Expecting 4 bytes]"}, lines, "the reply to this command, not the late one")

			lines, err = c.Command(t.Context(), "db load 4")
			require.NoError(t, err)
			assert.Equal(t, []string{"m-[Expecting 4 bytes]"}, lines)
			first := strings.TrimSuffix(tt.first, " failing late")
			assert.Equal(t, []string{first + "%", tt.sync, "db load 4%", "db load 4%"}, sent(), "one resynchronisation, after the time-out only")
		})
	}
}

// TestTwoTimeOutsInARow: a DUT that takes nothing in until it holds three
// commands, then answers them in order, times out a command and then the
// resynchronisation after it; the next resynchronisation must use a
// command neither of them was, and sort the three replies out.
func TestTwoTimeOutsInARow(t *testing.T) {
	host, dut := net.Pipe()
	cmds := make(chan string, 16)
	var wg sync.WaitGroup
	wg.Go(func() {
		defer close(cmds)
		r := bufio.NewReader(dut)
		for {
			cmd, err := r.ReadString('%')
			if err != nil {
				return
			}
			cmds <- cmd
		}
	})
	wg.Go(func() {
		var held []string
		for cmd := range cmds {
			held = append(held, cmd)
			if len(held) < 3 {
				continue
			}
			for _, c := range held {
				time.Sleep(30 * time.Millisecond)
				var out string
				switch c {
				case "name%":
					out = "m-name-dut-[late]\r\nm-ready\r\n"
				case "profile%":
					out = "m-profile-[ULPMark-ML]\r\nm-model-[kws01]\r\nm-ready\r\n"
				case "results%":
					out = "m-results-[0.000,1.000]\r\nm-ready\r\n"
				case "db load 4%":
					out = "m-[Expecting 4 bytes]\r\nm-ready\r\n"
				}
				if _, err := io.WriteString(dut, out); err != nil {
					return
				}
			}
			held = held[:0:0]
			held = append(held, "", "") // from now on, answer each command as it comes
		}
	})
	c := eembc.New(host, eembc.Options{Timeout: 400 * time.Millisecond})
	t.Cleanup(func() {
		_ = c.Close()
		host.Close()
		dut.Close()
		wg.Wait()
	})

	_, err := c.Profile(t.Context())
	require.ErrorIs(t, err, eembc.ErrNoReady)
	_, err = c.Command(t.Context(), "db load 4")
	require.ErrorContains(t, err, "resynchronising", "the DUT holds the name probe too")
	lines, err := c.Command(t.Context(), "db load 4")
	require.NoError(t, err)
	assert.Equal(t, []string{"m-[Expecting 4 bytes]"}, lines, "not the late name reply")
}
