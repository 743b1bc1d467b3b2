package lab

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain checks for leaked goroutines. Every test here keeps its leases
// in its own temporary directory.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
