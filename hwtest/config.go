package hwtest

import (
	"flag"
	"fmt"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/tinyprof/tinyprof/lab"
)

// Config is what a test binary is told from outside: each field has a flag,
// registered by Main or RegisterFlags, and an environment variable that
// sets the flag's default. The zero Config is usable.
type Config struct {
	// Inventory is the inventory file (-hwtest.inventory, TINYPROF_INVENTORY).
	// Default: lab.DefaultInventoryPath in the hardware build; in the simulated
	// build, none: boards come from the platform catalogue.
	Inventory string
	// Device pins every lease to the board with this id (-hwtest.device,
	// TINYPROF_DEVICE).
	Device string
	// Platform restricts every lease to this platform (-hwtest.platform,
	// TINYPROF_PLATFORM); a lease that names none gets it.
	Platform string
	// LeaseTimeout bounds the wait for a free board
	// (-hwtest.lease-timeout, TINYPROF_LEASE_TIMEOUT). Default 0: bounded
	// only by the test's deadline, less a margin for cleanup.
	LeaseTimeout time.Duration
	// LogDir, if set, receives the device log of every failed test
	// (-hwtest.logdir, TINYPROF_LOGDIR). Default: t.ArtifactDir() when go
	// test is given -artifacts, else a folder for the run under
	// lab.DefaultLogDir, so that the path a failure prints still leads to
	// the log after the run.
	LogDir string
	// LeaseDir holds the locks and health records (-hwtest.leasedir,
	// TINYPROF_LEASE_DIR). Default: lab.DefaultLeaseDir in the hardware build,
	// SimLeaseDir in the simulated one.
	LeaseDir string
	// JournalDir is where lease, health and fault events are journalled
	// (-hwtest.journal, TINYPROF_JOURNAL). Default: lab.DefaultJournalDir in
	// the hardware build or when TINYPROF_STATE_DIR is set; none otherwise.
	JournalDir string
	// Lab, if set, is a lab of many machines in etcd
	// (etcd://HOST:2379[,HOST:2379...][/LAB][?ttl=10s&ca=…&cert=…&key=…],
	// see etcdstore.ParseURL) (-hwtest.lab, TINYPROF_LAB): leases and
	// health live there, and, unless Inventory names an inventory, the
	// boards are those the lab's exporters publish, reached over RFC 2217.
	// Default: none, and leases are flock files in LeaseDir.
	Lab string
	// FailInfra makes infrastructure failures (no board could be leased, a
	// board broke) fail the test instead of skipping it
	// (-hwtest.fail-infra, TINYPROF_FAIL_INFRA).
	FailInfra bool
}

// The environment variables that set Config's defaults.
const (
	EnvInventory    = lab.EnvInventory
	EnvDevice       = "TINYPROF_DEVICE"
	EnvPlatform     = "TINYPROF_PLATFORM"
	EnvLeaseTimeout = "TINYPROF_LEASE_TIMEOUT"
	EnvLogDir       = "TINYPROF_LOGDIR"
	EnvLeaseDir     = "TINYPROF_LEASE_DIR"
	EnvFailInfra    = "TINYPROF_FAIL_INFRA"
	EnvJournal      = "TINYPROF_JOURNAL"
	EnvLab          = "TINYPROF_LAB"
	// EnvStateDir moves every default directory (see lab.DefaultStateDir).
	EnvStateDir = lab.EnvStateDir
)

// ConfigFromEnv returns the Config the environment describes.
func ConfigFromEnv() (Config, error) {
	c := Config{
		Inventory: os.Getenv(EnvInventory),
		Device:    os.Getenv(EnvDevice),
		Platform:  os.Getenv(EnvPlatform),
		LogDir:    os.Getenv(EnvLogDir),
		LeaseDir:  os.Getenv(EnvLeaseDir),

		JournalDir: os.Getenv(EnvJournal),
		Lab:        os.Getenv(EnvLab),
	}
	var err error
	if v := os.Getenv(EnvLeaseTimeout); v != "" {
		if c.LeaseTimeout, err = time.ParseDuration(v); err != nil {
			return c, fmt.Errorf("%s=%q: %w", EnvLeaseTimeout, v, err)
		}
	}
	if v := os.Getenv(EnvFailInfra); v != "" {
		if c.FailInfra, err = strconv.ParseBool(v); err != nil {
			return c, fmt.Errorf("%s=%q: %w", EnvFailInfra, v, err)
		}
	}
	return c, nil
}

// flagConfig is the Config bound to registered flags; nil until
// RegisterFlags. It is the package's one piece of process state, as flags
// themselves are.
var (
	flagMu     sync.Mutex
	flagConfig *Config
	envErr     error
)

// RegisterFlags registers the -hwtest.* flags on fs, with defaults from the
// environment, for a TestMain that cannot call Main (say, one that wraps
// m.Run with goleak). Call it once, before flags are parsed.
func RegisterFlags(fs *flag.FlagSet) {
	c, err := ConfigFromEnv()
	fs.StringVar(&c.Inventory, "hwtest.inventory", c.Inventory, "inventory `file` of lab boards (env "+EnvInventory+")")
	fs.StringVar(&c.Device, "hwtest.device", c.Device, "lease only the board with this `id` (env "+EnvDevice+")")
	fs.StringVar(&c.Platform, "hwtest.platform", c.Platform, "lease only boards of this `platform` (env "+EnvPlatform+")")
	fs.DurationVar(&c.LeaseTimeout, "hwtest.lease-timeout", c.LeaseTimeout, "longest wait for a free board; 0 means the test's deadline (env "+EnvLeaseTimeout+")")
	fs.StringVar(&c.LogDir, "hwtest.logdir", c.LogDir, "write failed tests' device logs under `dir` (default: t.ArtifactDir with -artifacts, else the state directory's logs/RUN) (env "+EnvLogDir+")")
	fs.StringVar(&c.LeaseDir, "hwtest.leasedir", c.LeaseDir, "lease and health `dir` shared by test processes (env "+EnvLeaseDir+")")
	fs.StringVar(&c.JournalDir, "hwtest.journal", c.JournalDir, "journal lease, health and fault events in `dir` (env "+EnvJournal+")")
	fs.StringVar(&c.Lab, "hwtest.lab", c.Lab, "lease boards of the lab of many machines at `etcd://HOST:2379[,...][/LAB]` (env "+EnvLab+")")
	fs.BoolVar(&c.FailInfra, "hwtest.fail-infra", c.FailInfra, "fail, rather than skip, tests whose board could not be leased or broke (env "+EnvFailInfra+")")
	flagMu.Lock()
	flagConfig, envErr = &c, err
	flagMu.Unlock()
}

// Main is for TestMain: it registers the -hwtest.* flags, runs the tests,
// prints the summary of WriteSummary (tests skipped for infrastructure,
// where failed tests' device logs are) and exits.
//
//	func TestMain(m *testing.M) { hwtest.Main(m) }
func Main(m *testing.M) {
	RegisterFlags(flag.CommandLine)
	code := m.Run()
	WriteSummary(os.Stdout)
	Close()
	os.Exit(code)
}

// currentConfig returns the flag-bound Config, or the environment's when
// no flags were registered.
func currentConfig() (Config, error) {
	flagMu.Lock()
	defer flagMu.Unlock()
	if flagConfig != nil {
		return *flagConfig, envErr
	}
	return ConfigFromEnv()
}

// SimLeaseDir returns the default lease directory of the simulated build,
// lab.DefaultSimLeaseDir: one per user, in $XDG_RUNTIME_DIR if set, shared
// by every test process of that user.
func SimLeaseDir() string { return lab.DefaultSimLeaseDir() }
