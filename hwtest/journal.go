package hwtest

import (
	"context"
	"os"
	"path/filepath"
	"time"

	"github.com/tinyprof/tinyprof/journal"
)

// EnvStateDir overrides DefaultStateDir; tests and CI point it at a
// temporary directory so that they never touch the lab's records.
const EnvStateDir = "TINYPROF_STATE_DIR"

// DefaultJournalDir returns the journal's directory,
// DefaultStateDir()/journal, which `tiny-profiler generate-incident-report`
// reads.
func DefaultJournalDir() (string, error) {
	d, err := DefaultStateDir()
	if err != nil {
		return "", err
	}
	return filepath.Join(d, "journal"), nil
}

// openJournal opens the journal cfg names: cfg.JournalDir, else, in the
// hardware build or when TINYPROF_STATE_DIR is set, DefaultJournalDir. The
// simulated build otherwise keeps none, so that a plain go test writes
// nothing outside its temporary directories.
func openJournal(cfg Config) (*journal.Journal, error) {
	dir := cfg.JournalDir
	if dir == "" && (!Simulated || os.Getenv(EnvStateDir) != "") {
		var err error
		if dir, err = DefaultJournalDir(); err != nil {
			return nil, err
		}
	}
	if dir == "" {
		return nil, nil
	}
	return journal.Open(dir, journal.Options{})
}

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
