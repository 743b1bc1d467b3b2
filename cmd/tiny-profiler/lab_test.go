package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/tinyprof/tinyprof/lab/etcdstore"
	"github.com/tinyprof/tinyprof/lab/etcdstore/etcdtest"
	"github.com/tinyprof/tinyprof/lab/export"
)

// TestLabScripts runs the scripts in testdata/labscript: the lab commands
// (leases --lab, health-check --lab, lab export) against a real etcd and a
// real ser2net that the scripts start. Under TINYPROF_REQUIRE_LAB=1 (CI),
// a missing etcd or ser2net fails them rather than skipping.
func TestLabScripts(t *testing.T) {
	testscript.Run(t, testscript.Params{
		Dir:                 "testdata/labscript",
		RequireExplicitExec: true,
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			// etcd VAR starts a single-member etcd for the script and sets
			// $VAR to its lab address, etcd://127.0.0.1:PORT/script.
			"etcd": func(ts *testscript.TestScript, neg bool, args []string) {
				if len(args) != 1 {
					ts.Fatalf("usage: etcd VAR")
				}
				bin, err := etcdtest.FindEtcd()
				ts.Check(err)
				s, err := etcdtest.Launch(bin, ts.MkAbs("etcd-data"))
				ts.Check(err)
				ts.Defer(s.Stop)
				ts.Setenv(args[0], s.URL("script", 3*time.Second))
			},
			// freeports VAR N sets $VAR to the first of N consecutive
			// loopback ports that were free a moment ago.
			"freeports": func(ts *testscript.TestScript, neg bool, args []string) {
				if len(args) != 2 {
					ts.Fatalf("usage: freeports VAR N")
				}
				var n int
				fmt.Sscan(args[1], &n)
				base, err := etcdtest.FreePortRun(n)
				ts.Check(err)
				ts.Setenv(args[0], fmt.Sprint(base))
			},
			// published URL [!]ID... waits up to 20 s until the lab at URL
			// publishes each ID (and none of the !IDs).
			"published": func(ts *testscript.TestScript, neg bool, args []string) {
				if len(args) < 2 {
					ts.Fatalf("usage: published URL [!]ID...")
				}
				opts, err := etcdstore.ParseURL(args[0])
				ts.Check(err)
				ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
				defer cancel()
				st, err := etcdstore.New(ctx, opts)
				ts.Check(err)
				defer st.Close()
				for {
					pubs, _ := st.Boards(ctx)
					have := map[string]bool{}
					for _, p := range pubs {
						have[p.ID] = true
					}
					ok := true
					for _, id := range args[1:] {
						if strings.HasPrefix(id, "!") == have[strings.TrimPrefix(id, "!")] {
							ok = false
						}
					}
					if ok {
						return
					}
					select {
					case <-ctx.Done():
						ts.Fatalf("published boards did not become %v: have %v", args[1:], have)
					case <-time.After(50 * time.Millisecond):
					}
				}
			},
		},
		// [lab] holds when etcd and ser2net are installed. When they are
		// not and TINYPROF_REQUIRE_LAB=1 (CI), asking fails the script.
		Condition: func(cond string) (bool, error) {
			if cond != "lab" {
				return false, fmt.Errorf("unknown condition %q", cond)
			}
			_, err := etcdtest.FindEtcd()
			if err == nil {
				_, err = export.FindSer2net()
			}
			if err != nil && os.Getenv(etcdtest.EnvRequire) != "" {
				return false, fmt.Errorf("%v; %s is set: apt-get install -y --no-install-recommends etcd-server ser2net", err, etcdtest.EnvRequire)
			}
			return err == nil, nil
		},
		Setup: func(env *testscript.Env) error {
			env.Setenv("HOME", filepath.Join(env.WorkDir, "home"))
			return nil
		},
	})
}
