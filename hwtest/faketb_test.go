package hwtest

import (
	"context"
	"fmt"
	"runtime"
	"sync"
	"testing"
	"time"
)

// fakeTB is a testing.TB that records what Lease does to a test, so that
// skips and failures can be asserted on. Methods Lease does not use panic
// through the nil embedded TB.
type fakeTB struct {
	testing.TB
	name        string
	ctx         context.Context
	deadline    time.Time
	artifactDir string

	mu       sync.Mutex
	cleanups []func()
	attrs    map[string]string
	logs     []string
	failed   bool
	skipped  bool
	msg      string

	// onLog, if set, sees every logged line, on the goroutine that
	// logged it.
	onLog func(string)
}

func newFakeTB(t *testing.T, name string) *fakeTB {
	return &fakeTB{name: name, ctx: t.Context(), attrs: map[string]string{}, artifactDir: t.TempDir()}
}

// run runs f as the fake test's body on its own goroutine, as the testing
// package does, then its cleanups.
func (f *fakeTB) run(body func(tb testing.TB)) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		body(f)
	}()
	<-done
	for i := len(f.cleanups) - 1; i >= 0; i-- {
		f.cleanups[i]()
	}
}

func (f *fakeTB) Helper()                     {}
func (f *fakeTB) Name() string                { return f.name }
func (f *fakeTB) Context() context.Context    { return f.ctx }
func (f *fakeTB) ArtifactDir() string         { return f.artifactDir }
func (f *fakeTB) Deadline() (time.Time, bool) { return f.deadline, !f.deadline.IsZero() }
func (f *fakeTB) Cleanup(fn func())           { f.mu.Lock(); f.cleanups = append(f.cleanups, fn); f.mu.Unlock() }
func (f *fakeTB) Attr(k, v string)            { f.mu.Lock(); f.attrs[k] = v; f.mu.Unlock() }
func (f *fakeTB) Logf(format string, args ...any) {
	line := fmt.Sprintf(format, args...)
	f.mu.Lock()
	f.logs = append(f.logs, line)
	f.mu.Unlock()
	if f.onLog != nil {
		f.onLog(line)
	}
}
func (f *fakeTB) Failed() bool { f.mu.Lock(); defer f.mu.Unlock(); return f.failed }
func (f *fakeTB) Fail()        { f.mu.Lock(); f.failed = true; f.mu.Unlock() }
func (f *fakeTB) stop(failed bool, msg string) {
	f.mu.Lock()
	f.failed, f.skipped, f.msg = f.failed || failed, !failed, msg
	f.mu.Unlock()
	runtime.Goexit()
}
func (f *fakeTB) Skip(args ...any)                  { f.stop(false, fmt.Sprint(args...)) }
func (f *fakeTB) Fatal(args ...any)                 { f.stop(true, fmt.Sprint(args...)) }
func (f *fakeTB) Fatalf(format string, args ...any) { f.stop(true, fmt.Sprintf(format, args...)) }

// Errorf marks the fake test failed and records the message, without
// stopping it.
func (f *fakeTB) Errorf(format string, args ...any) {
	f.mu.Lock()
	f.failed, f.msg = true, fmt.Sprintf(format, args...)
	f.mu.Unlock()
}
