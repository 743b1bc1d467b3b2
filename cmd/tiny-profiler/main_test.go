package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/tinyprof/tinyprof/device/eembc/eembcsim"
	"github.com/tinyprof/tinyprof/device/sim"
	"github.com/tinyprof/tinyprof/firmware/flash"
	"github.com/tinyprof/tinyprof/firmware/flash/flashtest"
	"github.com/tinyprof/tinyprof/fixtures"
	"github.com/tinyprof/tinyprof/internal/pty"
	"github.com/tinyprof/tinyprof/lab"
	"github.com/tinyprof/tinyprof/power"
	"github.com/tinyprof/tinyprof/power/powersim"
	"github.com/tinyprof/tinyprof/serialport"
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
				p, err := serialport.Open(context.Background(), args[0], 0)
				ts.Check(err)
				ts.Defer(func() { p.Close() })
			},
			// silentport VAR opens a pseudo-terminal that nothing answers
			// on, as a board that is powered off, and sets $VAR to its path.
			"silentport": func(ts *testscript.TestScript, neg bool, args []string) {
				if len(args) != 1 {
					ts.Fatalf("usage: silentport VAR")
				}
				pair, err := pty.Open()
				ts.Check(err)
				ts.Defer(func() { pair.Close() })
				ts.Setenv(args[0], pair.Path)
			},
			// leasehold DIR ID holds the lease on board ID in lease
			// directory DIR until the script ends, as a test would.
			"leasehold": func(ts *testscript.TestScript, neg bool, args []string) {
				if len(args) != 2 {
					ts.Fatalf("usage: leasehold DIR ID")
				}
				store, err := lab.NewFlockStore(ts.MkAbs(args[0]))
				ts.Check(err)
				host, _ := os.Hostname()
				release, err := store.TryAcquire(context.Background(), args[1], lab.Holder{PID: os.Getpid(), Host: host, Test: "TestScripts", Since: time.Now()})
				ts.Check(err)
				ts.Defer(func() { release() })
			},
			// eembcboard VAR [us=N] [model=M] [cold=N:US] [leftover=S]
			// [hang=N] starts a simulated MLPerf Tiny (EEMBC) DUT, 50 ms
			// per inference unless told, and sets $VAR to its pty path.
			"eembcboard": func(ts *testscript.TestScript, neg bool, args []string) {
				if len(args) < 1 {
					ts.Fatalf("usage: eembcboard VAR [us=N] [model=M] [cold=N:US] [leftover=S] [hang=N]")
				}
				o := eembcsim.Options{InferenceUS: 50_000}
				for _, a := range args[1:] {
					k, v, _ := strings.Cut(a, "=")
					var err error
					switch k {
					case "us":
						o.InferenceUS, err = strconv.ParseUint(v, 10, 64)
					case "model":
						o.Model = v
					case "cold":
						n, us, _ := strings.Cut(v, ":")
						if o.ColdInferences, err = strconv.Atoi(n); err == nil {
							o.ColdUS, err = strconv.ParseUint(us, 10, 64)
						}
					case "leftover":
						o.Leftover = v
					case "hang":
						o.HangAt, err = strconv.Atoi(v)
					default:
						ts.Fatalf("eembcboard: unknown option %q", a)
					}
					ts.Check(err)
				}
				d, err := eembcsim.Listen(o)
				ts.Check(err)
				ts.Defer(func() { d.Close() })
				ts.Setenv(args[0], d.Path)
			},
			// simmeter VAR MILLIAMPS starts a simulated PPK2 whose device
			// draws a constant current, and sets $VAR to its pty path.
			"simmeter": func(ts *testscript.TestScript, neg bool, args []string) {
				if len(args) != 2 {
					ts.Fatalf("usage: simmeter VAR MILLIAMPS")
				}
				ma, err := strconv.ParseFloat(args[1], 64)
				ts.Check(err)
				m, err := powersim.ListenPPK2(powersim.PPK2Options{Waveform: power.Constant(power.Current(ma / 1000)), Paced: true})
				ts.Check(err)
				ts.Defer(func() { m.Close() })
				ts.Setenv(args[0], m.Path)
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
			// fwimage KIND DEST writes a small, well-formed firmware image:
			// esp32s3-app, esp32-app, esp32-boot, uf2-rp2040, uf2-rp2350,
			// hex-stm32, hex-nrf, elf-arm, elf-xtensa or raw.
			"fwimage": func(ts *testscript.TestScript, neg bool, args []string) {
				if len(args) != 2 {
					ts.Fatalf("usage: fwimage KIND DEST")
				}
				images := map[string][]byte{
					"esp32s3-app": flashtest.ESPImage(0x0009, true),
					"esp32-app":   flashtest.ESPImage(0x0000, true),
					"esp32-boot":  flashtest.ESPImage(0x0000, false),
					"uf2-rp2040":  flashtest.UF2(flash.UF2RP2040, 0x10000000, 4),
					"uf2-rp2350":  flashtest.UF2(flash.UF2RP2350ArmS, 0x10000000, 4),
					"hex-stm32":   flashtest.IntelHex(0x08000000, 256),
					"hex-nrf":     flashtest.IntelHex(0, 256),
					"elf-arm":     flashtest.ELF(40),
					"elf-xtensa":  flashtest.ELF(94),
					"raw":         bytes.Repeat([]byte{0x5A}, 1000),
				}
				data, ok := images[args[0]]
				if !ok {
					ts.Fatalf("fwimage: unknown kind %q", args[0])
				}
				ts.Check(os.WriteFile(ts.MkAbs(args[1]), data, 0o644))
			},
			// flakyboard VAR FROM TO starts a simulated board behind a pty
			// in the test process, relayed so that the host's frames number
			// FROM up to (not including) TO are lost, as on a loose cable,
			// and sets $VAR to the pty's path. Losses are counted in frames,
			// not time, so the outage is the same on a busy machine.
			"flakyboard": func(ts *testscript.TestScript, neg bool, args []string) {
				if len(args) != 3 {
					ts.Fatalf("usage: flakyboard VAR FROM TO")
				}
				from, err := strconv.Atoi(args[1])
				ts.Check(err)
				to, err := strconv.Atoi(args[2])
				ts.Check(err)
				tr, b, err := sim.Pipe(sim.Options{})
				ts.Check(err)
				pair, err := pty.Open()
				ts.Check(err)
				var wg sync.WaitGroup
				wg.Add(2)
				go func() { // board to host, untouched
					defer wg.Done()
					io.Copy(pair.Master, tr)
				}()
				go func() { // host to board, dropping frames FROM..TO-1
					defer wg.Done()
					buf := make([]byte, 4096)
					var frame []byte
					n := 0
					for {
						k, err := pair.Master.Read(buf)
						for _, c := range buf[:k] {
							frame = append(frame, c)
							if c != 0 {
								continue
							}
							if len(frame) > 1 {
								n++
								if n < from || n >= to {
									tr.Write(frame)
								}
							} else {
								tr.Write(frame)
							}
							frame = frame[:0]
						}
						if err != nil {
							return
						}
					}
				}()
				ts.Defer(func() {
					pair.Close()
					tr.Close()
					b.Close()
					wg.Wait()
				})
				ts.Setenv(args[0], pair.Path)
			},
		},
		// [emulation] holds when emulated boards can start (qemu-system-arm
		// and arm-none-eabi-gcc installed). When they cannot and
		// TINYPROF_REQUIRE_EMULATION=1 (CI), asking fails the script, so
		// that emulated scripts never pass by skipping there.
		Condition: func(cond string) (bool, error) {
			if cond != "emulation" {
				return false, fmt.Errorf("unknown condition %q", cond)
			}
			err := lab.EmulationAvailable()
			if err != nil && lab.RequireEmulation() {
				return false, fmt.Errorf("%v; %s=1 requires emulated boards", err, lab.EnvRequireEmulation)
			}
			return err == nil, nil
		},
		Setup: func(env *testscript.Env) error {
			env.Setenv("HOME", filepath.Join(env.WorkDir, "home"))
			// Share the firmware build cache across scripts: a build takes
			// a second or two, a cached image milliseconds.
			if dir, err := os.UserCacheDir(); err == nil {
				env.Setenv("XDG_CACHE_HOME", dir)
			}
			return nil
		},
	})
}
