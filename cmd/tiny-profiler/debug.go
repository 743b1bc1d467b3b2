package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/tinyprof/tinyprof/device"
	"github.com/tinyprof/tinyprof/firmware"
)

func newDebugDevice() *cobra.Command {
	var bf target
	var trace, reset bool
	var duration, ping time.Duration
	c := &cobra.Command{
		Use:   "debug-device --device PATH|ID",
		Short: "Stream the board's log with timestamps; --trace shows every frame decoded, both directions",
		Long: `debug-device opens the board and prints every line it logs or prints (boot ROM
text, printf, LOG messages with the board's own timestamp and level) with the
host's time, until interrupted or --duration passes. --trace also prints every
protocol frame, sent (tx) and received (rx), decoded. --reset restarts the
board first, to catch its boot; --ping sends a PING at that interval, to see
the link work.`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			if duration < 0 || ping < 0 {
				return usageError{fmt.Errorf("--duration and --ping must not be negative")}
			}
			out := &lockedWriter{w: c.OutOrStdout()}
			opts := device.Options{OnLog: func(l device.LogLine) { out.printf("%s\n", formatLogLine(l)) }}
			if trace {
				opts.OnFrame = func(dir string, f firmware.Frame) { out.printf("%s\n", formatFrame(time.Now(), dir, f)) }
			}
			dev, closeFn, label, err := bf.open(c.Context(), opts)
			if err != nil {
				return err
			}
			defer closeFn()
			// --duration is of streaming: connecting has its own time-outs.
			ctx := c.Context()
			if duration > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, duration)
				defer cancel()
			}
			info := dev.Info()
			sim := ""
			if info.Capabilities.Simulated() {
				sim = " (simulated)"
			}
			out.printf("%s host  connected to %s: %s %s, boot id %08x%s; streaming until interrupted\n",
				time.Now().Format("15:04:05.000"), label, info.Platform, info.Firmware, info.BootID, sim)
			if reset {
				if _, err := dev.Reset(ctx); err != nil {
					return err
				}
			}
			var tick <-chan time.Time
			if ping > 0 {
				t := time.NewTicker(ping)
				defer t.Stop()
				tick = t.C
			}
			for {
				select {
				case <-ctx.Done():
					return nil // --duration is over, or Ctrl-C: both a normal end
				case <-tick:
					if _, err := dev.Ping(ctx, []byte("debug-device")); err != nil && ctx.Err() == nil {
						out.printf("%s host  ping failed: %v\n", time.Now().Format("15:04:05.000"), err)
					}
				}
			}
		},
	}
	bf.flags(c)
	c.Flags().BoolVar(&trace, "trace", false, "print every frame, both directions, decoded")
	c.Flags().BoolVar(&reset, "reset", false, "reset the board first, to see it boot")
	c.Flags().DurationVar(&duration, "duration", 0, "stop after this long (default: until interrupted)")
	c.Flags().DurationVar(&ping, "ping", 0, "send a PING at this interval (default: never)")
	return c
}

// lockedWriter serialises writes from the device's reader goroutine and
// the command's.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) printf(format string, a ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	fmt.Fprintf(l.w, format, a...)
}

// formatLogLine renders a log line: host time, then the board's timestamp
// and level for LOG messages.
func formatLogLine(l device.LogLine) string {
	ts := l.Time.Format("15:04:05.000")
	text := strings.TrimRight(l.Text, "\r\n")
	switch {
	case l.Host:
		return ts + " host  " + text
	case l.Raw:
		return ts + " raw   " + text
	}
	return fmt.Sprintf("%s [%s] %d.%06ds %s", ts, l.Level, l.DeviceUS/1e6, l.DeviceUS%1e6, text)
}

// formatFrame renders one frame: direction, type, sequence number, payload
// size and the decoded message.
func formatFrame(now time.Time, dir string, f firmware.Frame) string {
	s := fmt.Sprintf("%s %s    %s seq=%d len=%d", now.Format("15:04:05.000"), dir, f.Type, f.Seq, len(f.Payload))
	msg, err := firmware.Decode(f)
	if err != nil {
		return s + " (undecodable: " + err.Error() + ")"
	}
	body := fmt.Sprintf("%+v", msg)
	switch m := msg.(type) {
	case *firmware.ModelChunk:
		body = fmt.Sprintf("&{Offset:%d Data:%d bytes}", m.Offset, len(m.Data))
	case *firmware.Ping:
		body = fmt.Sprintf("&{Data:%q}", m.Data)
	case *firmware.Pong:
		body = fmt.Sprintf("&{Data:%q}", m.Data)
	}
	if len(body) > 300 {
		body = body[:300] + "…"
	}
	return s + " " + body
}
