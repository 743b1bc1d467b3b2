package device

import (
	"sync"
	"time"

	"github.com/tinyprof/tinyprof/firmware"
)

// LogLine is one line the board printed or logged.
type LogLine struct {
	Time     time.Time         // host time when the line arrived
	DeviceUS uint64            // the board's timestamp, for LOG messages; 0 for raw text
	Level    firmware.LogLevel // for LOG messages; 0 for raw text
	Text     string
	Raw      bool // printed outside frames (boot ROM, printf)
	Host     bool // a note by the host, e.g. "board booted"
}

func (d *Device) addLog(l LogLine) {
	l.Time = time.Now()
	d.logs.add(l)
	if d.opts.OnLog != nil {
		d.opts.OnLog(l)
	}
}

// logRing keeps the last n lines.
type logRing struct {
	mu    sync.Mutex
	lines []LogLine
	next  int
	full  bool
}

func (r *logRing) init(n int) { r.lines = make([]LogLine, n) }

func (r *logRing) add(l LogLine) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.lines[r.next] = l
	r.next = (r.next + 1) % len(r.lines)
	r.full = r.full || r.next == 0
}

func (r *logRing) snapshot() []LogLine {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.full {
		return append([]LogLine(nil), r.lines[:r.next]...)
	}
	return append(append([]LogLine(nil), r.lines[r.next:]...), r.lines[:r.next]...)
}
