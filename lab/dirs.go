package lab

import (
	"fmt"
	"os"
	"path/filepath"
)

// The environment variables the lab's default paths follow.
const (
	// EnvStateDir overrides DefaultStateDir; tests and CI point it at a
	// temporary directory so that they never touch the lab's records.
	EnvStateDir = "TINYPROF_STATE_DIR"
	// EnvInventory names the inventory file (see InventoryPath).
	EnvInventory = "TINYPROF_INVENTORY"
)

// DefaultStateDir returns the directory for tinyprof's machine-local
// state: $TINYPROF_STATE_DIR if set, else $XDG_STATE_HOME/tinyprof, else
// ~/.local/state/tinyprof.
func DefaultStateDir() (string, error) {
	if d := os.Getenv(EnvStateDir); d != "" {
		return filepath.Abs(d)
	}
	if d := os.Getenv("XDG_STATE_HOME"); d != "" && filepath.IsAbs(d) {
		return filepath.Join(d, "tinyprof"), nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("no state directory (set XDG_STATE_HOME or %s): %w", EnvStateDir, err)
	}
	return filepath.Join(home, ".local", "state", "tinyprof"), nil
}

// DefaultLeaseDir returns the lease directory for real boards,
// DefaultStateDir()/leases; `tiny-profiler leases` lists it.
func DefaultLeaseDir() (string, error) {
	d, err := DefaultStateDir()
	if err != nil {
		return "", err
	}
	return filepath.Join(d, "leases"), nil
}

// DefaultSimLeaseDir returns the lease directory simulated boards use
// when none is named, shared by every test process of one user:
// $XDG_RUNTIME_DIR/tinyprof-hwtest when the per-user runtime directory is
// set (private to the user by definition), else
// os.TempDir()/tinyprof-hwtest-UID. The second is a name anyone can guess
// and create first; NewFlockStore refuses it then, naming the fix.
func DefaultSimLeaseDir() string {
	if d := os.Getenv("XDG_RUNTIME_DIR"); d != "" && filepath.IsAbs(d) {
		return filepath.Join(d, "tinyprof-hwtest")
	}
	return filepath.Join(os.TempDir(), fmt.Sprintf("tinyprof-hwtest-%d", os.Getuid()))
}

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

// DefaultLogDir returns where device logs of failed tests are kept when
// nothing else is named, DefaultStateDir()/logs, one folder per test run.
func DefaultLogDir() (string, error) {
	d, err := DefaultStateDir()
	if err != nil {
		return "", err
	}
	return filepath.Join(d, "logs"), nil
}

// DefaultInventoryPath returns where the inventory is looked for when
// nothing names one: $XDG_CONFIG_HOME/tinyprof/inventory.yaml, i.e.
// usually ~/.config/tinyprof/inventory.yaml on Linux (os.UserConfigDir).
func DefaultInventoryPath() (string, error) {
	dir, err := os.UserConfigDir()
	if err != nil {
		return "", fmt.Errorf("no default inventory path (set %s): %w", EnvInventory, err)
	}
	return filepath.Join(dir, "tinyprof", "inventory.yaml"), nil
}

// InventoryPath returns the inventory a tool should read: path if it is
// not empty (a flag), else $TINYPROF_INVENTORY, else DefaultInventoryPath.
func InventoryPath(path string) (string, error) {
	if path != "" {
		return path, nil
	}
	if p := os.Getenv(EnvInventory); p != "" {
		return p, nil
	}
	return DefaultInventoryPath()
}
