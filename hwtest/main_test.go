package hwtest

import (
	"flag"
	"fmt"
	"os"
	"testing"

	"go.uber.org/goleak"
)

// TestMain keeps every lease of this package's tests in a temporary lease
// directory, and the device logs of the failures its tests stage in a
// temporary state directory — never the user's — unless a parent test
// process chose them; gives the hardware build a lab if the host has none
// (see serveLab); and checks for leaked goroutines.
func TestMain(m *testing.M) {
	var tmp string
	if os.Getenv(EnvLeaseDir) == "" {
		var err error
		if tmp, err = os.MkdirTemp("", "hwtest-leases-"); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
		os.Setenv(EnvLeaseDir, tmp)
	}
	var state string
	if os.Getenv(EnvStateDir) == "" {
		var err error
		if state, err = os.MkdirTemp("", "hwtest-state-"); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
		os.Setenv(EnvStateDir, state)
	}
	stopLab, err := serveLab()
	if err != nil {
		fmt.Fprintln(os.Stderr, "hwtest: serving a lab for the hardware build:", err)
		os.Exit(2)
	}
	RegisterFlags(flag.CommandLine)
	code := m.Run()
	WriteSummary(os.Stdout)
	Close()
	stopLab()
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, "goleak:", err)
			code = 1
		}
	}
	for _, d := range []string{tmp, state} {
		if d != "" {
			os.RemoveAll(d)
		}
	}
	os.Exit(code)
}
