// Package lab runs a lab of boards: the inventory that lists them, the
// leases that give one holder at a time a board, their health checks and
// quarantine, and the one way to connect to any of them. Package hwtest
// builds on it for tests (hwtest.Lease); the tiny-profiler CLI uses it for
// its lab commands (health-check, leases, emergency-reset, inventory) and
// to resolve --device and --sim.
//
// # Inventory
//
// An Inventory is a YAML file of Entry values (LoadInventory,
// ParseInventory): a board's identity (its USB serial number), platform,
// protocol (tinyprof or eembc), features, expected firmware, state, and
// optionally the power meter wired to it (MeterBinding, checked against
// the registry of package power/meters). Every problem is reported as a
// *PositionError, "file:line: problem". DraftInventory drafts one from
// the serial ports a host can see.
//
// # Connecting
//
// Connect opens the board an Entry describes and returns a *Conn: the
// connected *device.Device, the simulated *sim.Board behind a `sim: true`
// entry or the QEMU machine (*emu.Board) behind an `emulate: MACHINE`
// entry, and Close. Entry.Kind says what serves an entry; Connect has one
// case per kind. Resolve turns the CLI's --device argument (a port or an
// inventory id) into an Entry. OpenMeter opens the meter an entry binds,
// simulated for a simulated board.
//
// # Leases, health and quarantine
//
// A Lab is a set of entries, a Store for their leases and health, and a
// ConnectFunc. Lab.Acquire and AcquireN lease boards matching a Request,
// all or none, with backoff, and health-check each before handing it out
// (reset, Hello, ping, platform and firmware; name% and profile% for an
// eembc board). A board that fails twice is quarantined — the record is
// kept beside its lock, so every process sees it — and stays out until
// Lab.RecheckAfter has passed and a check passes it again. Lab.HealthCheck
// checks a whole inventory, as `tiny-profiler health-check` does. Every
// lease, release, check and quarantine is journalled when the Lab has a
// Journal.
//
// Store is a small interface: the default FlockStore serves every process
// on one host with flock(2) locks that the kernel drops when their holder
// dies, so a kill -9 never strands a board; a store shared by several
// hosts implements the same four methods. Optional capabilities are
// small interfaces found by type assertion: a Queue (FlockStore's ticket
// line) makes the lab's tries fair, and an Acquirer (the etcd store of
// package lab/etcdstore) queues and wakes waiters itself, so that nothing
// polls, and tells a holder through Lease.Lost that its lease ended.
package lab
