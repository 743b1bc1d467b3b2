// Package hwtest gives an ordinary go test an exclusive, healthy, freshly
// reset board with one line:
//
//	dev := hwtest.Lease(t, hwtest.Platform("esp32s3"))
//
// No extra runner is needed, and it is safe under go test -p N ./...,
// where packages run as separate processes at once.
//
// Package hwtest is what a test calls: Lease, LeaseN and LeaseEEMBC, the
// constraints, the -hwtest.* flags and Main, and the split between the
// simulated and the hardware build. Running the lab itself — the
// inventory, the lease store, connecting, health checks and quarantine,
// the journal — is package lab, which the tiny-profiler CLI uses too; a
// hwtest.Lab is a *lab.Lab with the test binary's Config.
//
// # Simulated and real boards
//
// Which boards serve a lease is chosen when the test is compiled. In the
// default build every lease is served by a simulated board (package
// device/sim) behind a real pseudo-terminal: with no inventory, the lab is
// SimBoardsPerPlatform boards of every catalogue platform and
// SimEEMBCBoards MLPerf Tiny boards (sim-eembc-N); with one, its
// `sim: true` entries. Built with -tags=hardware, leases are served only by
// the real boards of the inventory. The two builds differ in two files with
// opposite build constraints; leasing, health checks and quarantine are the
// same code in both.
//
// A simulated board lives inside the process that leased it. When two test
// processes lease the same simulated entry one after the other, what they
// share is the lease in the lease directory, not the board: each starts its
// own simulated board for the time it holds the lease.
//
// The default build also serves emulated boards: tinyprof's firmware on a
// QEMU Cortex-M (package device/emu), EmuBoardsPerMachine of each machine
// (emu-MACHINE-N) when qemu-system-arm and arm-none-eabi-gcc are installed,
// or an inventory's `emulate: MACHINE` entries. Lease(t,
// Platform("mps2-an386")) starts one for the lease and stops it at its end;
// Board.Emu gives its label, which Lease records as the hwtest.emulated
// attribute. Without the tools such a lease is skipped, or failed when
// TINYPROF_REQUIRE_EMULATION=1.
//
// # MLPerf Tiny boards
//
// An inventory entry names the protocol its firmware speaks: tinyprof (the
// default) or eembc, a board running MLPerf Tiny's EEMBC EnergyRunner
// firmware. Lease and LeaseN serve only tinyprof boards; LeaseEEMBC serves
// only eembc ones, as an *eembc.Client ready for eembc.Run (see also
// bench.MLPerf). A simulated eembc board is a DUT of package eembcsim, one
// per lease. Leases, health records and quarantine are shared: an eembc
// board's health check is name% and profile%.
//
// # Leases
//
// A lease is an OS file lock (see lab.FlockStore) in the lease directory,
// so it excludes other tests in this process and in every other process on
// the host, and the kernel drops it when its holder dies: a kill -9 never
// strands a board. The lock file records the holder's pid, host, test and
// start time; lab.ListLeases reports them (`tiny-profiler leases`).
// lab.Store is the interface a lease store for several hosts would
// implement.
//
// # Health and quarantine
//
// Before handing out a board, Lease resets it, says Hello, pings it and
// checks that it reports the platform (and firmware, if the inventory names
// one) it should. A board that fails is reset once and checked again; if it
// fails again it is quarantined — status, reason and time recorded beside
// its lock — and the next candidate is tried. A quarantined board stays out
// until lab.Lab.RecheckAfter has passed and a health check passes it again.
// When a test fails, its boards are asked for a quick answer (a PING, or
// name% for an EEMBC board) before their leases end; a board that no
// longer answers is quarantined as well, with the test named in the reason,
// so that the next test does not inherit a broken board.
//
// # A suite that cannot run does not pass
//
// A lease that names a platform, feature or board that does not exist — a
// typo such as hwtest.Platform("esp32-s3") or -hwtest.platform=esp32p5 —
// fails the test, naming the closest names of the platform catalogue (or
// of the lab's boards); so does a lab that cannot be set up: an inventory
// that was named but cannot be read, one with no board this build can
// serve, a hardware build with no inventory at all. Only conditions of a
// working lab — every matching board busy past the deadline or
// quarantined, none of the platform in this lab, a board that broke — skip
// the test with a reason beginning "infrastructure:" (see Infrastructure),
// or fail it with -hwtest.fail-infra. Main ends the run with one line that
// counts them ("hwtest: 12 tests skipped for infrastructure: …"; see
// WriteSummary).
//
// A lease that waits more than a second for a held board says so in the
// test's log, naming the board and its holder (pid, host, test, since), and
// again every ten seconds. A failed test's device log is written where it
// outlives the run — -hwtest.logdir, t.ArtifactDir() under
// go test -artifacts, else a folder for the run under lab.DefaultLogDir
// (the newest KeepRuns are kept) — and the failure names the file. Besides
// the board's id, platform and firmware, t.Attr records whether it is
// simulated or emulated and the host that leased it, for the JUnit report.
//
// # Flags
//
// Main, for TestMain, registers -hwtest.inventory, -hwtest.device,
// -hwtest.platform, -hwtest.lease-timeout, -hwtest.logdir, -hwtest.leasedir,
// -hwtest.journal and -hwtest.fail-infra; each takes its default from an
// environment variable (TINYPROF_INVENTORY, … see Config).
package hwtest
