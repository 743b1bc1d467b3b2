package hwtest

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/tinyprof/tinyprof/device"
	"github.com/tinyprof/tinyprof/device/sim"
	"github.com/tinyprof/tinyprof/internal/atomicfile"
)

// Board is a leased board: a connected *device.Device (its methods are
// promoted, so a Board is used as a Device), the inventory entry it was
// leased as, and every line it printed since the lease began.
//
// A Board from Lease is released by the test's cleanup; one from Acquire
// must be released with Release. Do not use it after that.
type Board struct {
	*device.Device
	// Entry is the board's inventory entry.
	Entry Entry
	// Holder is the lease record written for this lease.
	Holder Holder

	log     *boardLog
	sim     *sim.Board // the simulated board behind a sim entry, if known
	release func() error
	recheck func() error
	once    sync.Once
	relErr  error
}

// Log returns every line the board printed, and the notes hwtest made
// (health checks, resets), since the lease began, oldest first. Unlike
// Device.Logs it is not a bounded ring: up to a million lines are kept.
func (b *Board) Log() []device.LogLine { return b.log.snapshot() }

// Release closes the connection and ends the lease. It is safe to call
// more than once.
func (b *Board) Release() error {
	b.once.Do(func() { b.relErr = b.release() })
	return b.relErr
}

// boardLog keeps every log line of one lease.
type boardLog struct {
	mu      sync.Mutex
	lines   []device.LogLine
	dropped int
}

const maxLogLines = 1 << 20

func (l *boardLog) add(ll device.LogLine) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.lines) >= maxLogLines {
		l.dropped++
		return
	}
	l.lines = append(l.lines, ll)
}

func (l *boardLog) note(format string, args ...any) {
	l.add(device.LogLine{Time: time.Now(), Text: "hwtest: " + fmt.Sprintf(format, args...), Host: true})
}

func (l *boardLog) snapshot() []device.LogLine {
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

// write writes the log of board id as ID.log in dir and returns its path.
func (l *boardLog) write(dir, id string) (string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	path := filepath.Join(dir, fileName(id)+".log")
	text := FormatLog(l.snapshot())
	l.mu.Lock()
	d := l.dropped
	l.mu.Unlock()
	if d > 0 {
		text += fmt.Sprintf("(%d further lines dropped)\n", d)
	}
	return path, atomicfile.WriteFile(path, []byte(text), 0o644)
}
