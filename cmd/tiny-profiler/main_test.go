package main

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/tinyprof/tinyprof/device"
	"github.com/tinyprof/tinyprof/device/sim"
	"github.com/tinyprof/tinyprof/fixtures"
	"github.com/tinyprof/tinyprof/hwtest"
)

func TestMain(m *testing.M) {
	testscript.Main(m, map[string]func(){
		"tiny-profiler": func() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) },
	})
}

// TestScripts runs the end-to-end scripts in testdata/script: the real
// binary entry point against simulated boards behind real pseudo-terminals.
func TestScripts(t *testing.T) {
	testscript.Run(t, testscript.Params{
		Dir:                 "testdata/script",
		RequireExplicitExec: true,
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			// simboard VAR [PLATFORM] starts a simulated board in the test
			// process and sets $VAR to its pty path.
			"simboard": func(ts *testscript.TestScript, neg bool, args []string) {
				if len(args) < 1 {
					ts.Fatalf("usage: simboard VAR [PLATFORM]")
				}
				opts := sim.Options{Faults: sim.Faults{BootNoise: true}}
				if len(args) > 1 {
					opts.Platform = args[1]
				}
				b, err := sim.Listen(opts)
				ts.Check(err)
				ts.Defer(func() { b.Close() })
				ts.Setenv(args[0], b.Path)
			},
			// hold PATH opens the port in the test process and keeps it
			// open until the script ends, as another user of the board would.
			"hold": func(ts *testscript.TestScript, neg bool, args []string) {
				if len(args) != 1 {
					ts.Fatalf("usage: hold PATH")
				}
				p, err := device.OpenSerial(context.Background(), args[0], 0)
				ts.Check(err)
				ts.Defer(func() { p.Close() })
			},
			// leasehold DIR ID holds the lease on board ID in lease
			// directory DIR until the script ends, as a test would.
			"leasehold": func(ts *testscript.TestScript, neg bool, args []string) {
				if len(args) != 2 {
					ts.Fatalf("usage: leasehold DIR ID")
				}
				store, err := hwtest.NewFlockStore(ts.MkAbs(args[0]))
				ts.Check(err)
				host, _ := os.Hostname()
				release, err := store.TryAcquire(context.Background(), args[1], hwtest.Holder{PID: os.Getpid(), Host: host, Test: "TestScripts", Since: time.Now()})
				ts.Check(err)
				ts.Defer(func() { release() })
			},
			// fixture NAME DEST copies a generated model file into the work dir.
			"fixture": func(ts *testscript.TestScript, neg bool, args []string) {
				if len(args) != 2 {
					ts.Fatalf("usage: fixture NAME DEST")
				}
				data, err := os.ReadFile(fixtures.Model(t, args[0]))
				ts.Check(err)
				ts.Check(os.WriteFile(ts.MkAbs(args[1]), data, 0o644))
			},
		},
		Setup: func(env *testscript.Env) error {
			env.Setenv("HOME", filepath.Join(env.WorkDir, "home"))
			return nil
		},
	})
}
