package hwtest

import (
	"flag"
	"fmt"
	"os"
	"testing"

	"go.uber.org/goleak"
)

// TestMain keeps every lease of this package's tests in a temporary lease
// directory — never the user's — unless a parent test process chose one
// (see helperEnv), and checks for leaked goroutines.
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
	RegisterFlags(flag.CommandLine)
	code := m.Run()
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, "goleak:", err)
			code = 1
		}
	}
	if tmp != "" {
		os.RemoveAll(tmp)
	}
	os.Exit(code)
}
