//go:build !hardware

package hwtest

// serveLab is for the hardware build (see main_hardware_test.go); the
// simulated build needs no lab.
func serveLab() (func(), error) { return func() {}, nil }
