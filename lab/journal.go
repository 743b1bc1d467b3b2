package lab

import (
	"context"
	"time"

	"github.com/tinyprof/tinyprof/journal"
)

// record appends e to the lab's journal, if it has one. The journal is a
// record, not a gate: a failure to write it never fails a lease or a
// health check, so errors are dropped here after a bounded wait.
func (l *Lab) record(e journal.Event) {
	if l.Journal == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_ = l.Journal.Append(ctx, e)
}

func holderDetails(h Holder) map[string]any {
	return map[string]any{"holder": h.String(), "pid": h.PID, "host": h.Host, "test": h.Test}
}
