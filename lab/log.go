package lab

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/tinyprof/tinyprof/device"
	"github.com/tinyprof/tinyprof/internal/atomicfile"
)

// Log keeps every line one leased board printed, and the notes the lab
// made about it (health checks, resets), oldest first. Unlike Device.Logs
// it is not a bounded ring: up to a million lines are kept, then further
// ones are counted. It is safe for concurrent use.
type Log struct {
	mu      sync.Mutex
	lines   []device.LogLine
	dropped int
}

const maxLogLines = 1 << 20

// Add appends a line the board printed.
func (l *Log) Add(ll device.LogLine) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.lines) >= maxLogLines {
		l.dropped++
		return
	}
	l.lines = append(l.lines, ll)
}

// Note appends a host-side note, prefixed "hwtest: " (the name test
// authors know the lab by).
func (l *Log) Note(format string, args ...any) {
	l.Add(device.LogLine{Time: time.Now(), Text: "hwtest: " + fmt.Sprintf(format, args...), Host: true})
}

// Lines returns a copy of the lines so far.
func (l *Log) Lines() []device.LogLine {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]device.LogLine(nil), l.lines...)
}

// FormatLog renders log lines one per line: host time, then the board's
// own timestamp and level for LOG messages.
func FormatLog(lines []device.LogLine) string {
	var b strings.Builder
	for _, l := range lines {
		b.WriteString(l.Time.Format("15:04:05.000"))
		switch {
		case l.Host:
			b.WriteString(" host  ")
		case l.Raw:
			b.WriteString(" raw   ")
		default:
			fmt.Fprintf(&b, " [%d] %d.%06ds ", l.Level, l.DeviceUS/1e6, l.DeviceUS%1e6)
		}
		b.WriteString(strings.TrimRight(l.Text, "\r\n"))
		b.WriteByte('\n')
	}
	return b.String()
}

// Write writes the log of board id as ID.log in dir (created if needed),
// atomically, and returns its path.
func (l *Log) Write(dir, id string) (string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	path := filepath.Join(dir, fileName(id)+".log")
	text := FormatLog(l.Lines())
	l.mu.Lock()
	d := l.dropped
	l.mu.Unlock()
	if d > 0 {
		text += fmt.Sprintf("(%d further lines dropped)\n", d)
	}
	return path, atomicfile.WriteFile(path, []byte(text), 0o644)
}
