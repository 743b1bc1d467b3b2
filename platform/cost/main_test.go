package cost_test

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package if a test leaves a goroutine behind, such as
// an emulated board's reader.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
