package hwtest

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tinyprof/tinyprof/lab"
)

// KeepRuns is how many runs' folders of device logs the default log
// directory (lab.DefaultLogDir) keeps: starting a new one removes the
// oldest beyond it, so that failed runs do not fill the disk.
const KeepRuns = 20

// writeLog writes the device log of the failed test tb's lease le and
// returns its path. It goes, in this order of choice, under -hwtest.logdir
// in a folder named for the test; to t.ArtifactDir() when go test was given
// -artifacts (which keeps it); else under lab.DefaultLogDir, in a folder
// for this run (RUNSTAMP-BINARY-PID) and one for the test. A t.ArtifactDir
// without -artifacts is deleted when the test binary exits, and a path
// printed for a failure must still lead to the log after it.
func (l *Lab) writeLog(tb testing.TB, le *lab.Lease) (string, error) {
	var dir string
	switch {
	case l.Config.LogDir != "":
		dir = filepath.Join(l.Config.LogDir, testDir(tb.Name()))
	case artifactsKept():
		dir = tb.ArtifactDir()
	default:
		run, err := l.runLogDir()
		if err != nil {
			return "", fmt.Errorf("no folder for device logs (name one with -hwtest.logdir or %s): %w", EnvLogDir, err)
		}
		dir = filepath.Join(run, testDir(tb.Name()))
	}
	path, err := le.Log.Write(dir, le.Entry.ID)
	if err != nil {
		return "", err
	}
	l.counts().wroteLog(filepath.Dir(dir))
	return path, nil
}

// testDir is a test's name as one folder name.
func testDir(name string) string {
	return strings.NewReplacer("/", "__", " ", "_").Replace(name)
}

// artifactsKept reports whether go test was given -artifacts, which keeps
// t.ArtifactDir() after the run.
func artifactsKept() bool {
	f := flag.Lookup("test.artifacts")
	return f != nil && f.Value.String() == "true"
}

// runStamp begins the name of a run's folder of device logs.
const runStamp = "20060102T150405Z"

// runLogDir returns this Lab's folder under lab.DefaultLogDir, creating it
// (and pruning old runs' folders) on first use.
func (l *Lab) runLogDir() (string, error) {
	l.runLogs.Do(func() {
		parent, err := lab.DefaultLogDir()
		if err != nil {
			l.runLogsErr = err
			return
		}
		name := fmt.Sprintf("%s-%s-%d", time.Now().UTC().Format(runStamp),
			strings.TrimSuffix(filepath.Base(os.Args[0]), ".test"), os.Getpid())
		l.runLogsDir = filepath.Join(parent, name)
		if l.runLogsErr = os.MkdirAll(l.runLogsDir, 0o755); l.runLogsErr == nil {
			pruneRuns(parent, KeepRuns)
		}
	})
	return l.runLogsDir, l.runLogsErr
}

// pruneRuns removes all but the newest keep run folders in parent. Their
// names begin with a UTC time stamp, so name order is age order. Failing to
// remove one is not worth failing a test for.
func pruneRuns(parent string, keep int) {
	ents, err := os.ReadDir(parent)
	if err != nil {
		return
	}
	var runs []string
	for _, e := range ents {
		if _, err := time.Parse(runStamp, e.Name()[:min(len(e.Name()), len(runStamp))]); err == nil && e.IsDir() {
			runs = append(runs, e.Name())
		}
	}
	slices.Sort(runs)
	for _, r := range runs[:max(0, len(runs)-keep)] {
		os.RemoveAll(filepath.Join(parent, r))
	}
}
