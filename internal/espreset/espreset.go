// Package espreset is esptool's classic hard reset of an ESP32-style
// board, whose USB-serial bridge wires DTR to IO0 and RTS to EN: hold EN
// low, then release both lines so the chip boots its application rather
// than the ROM bootloader. A local serial port and an RFC 2217 connection
// drive the same sequence through their own line setters.
package espreset

import (
	"context"
	"time"
)

// Steps is the sequence: line states and how long each holds.
var Steps = []struct {
	DTR, RTS bool
	Wait     time.Duration
}{
	{false, true, 100 * time.Millisecond}, // EN low: chip held in reset
	{false, false, 50 * time.Millisecond}, // EN high, IO0 high: normal boot
}

// Run drives Steps through setDTR and setRTS. It returns the first setter
// error unchanged, for the caller to classify, or ctx's error if it ends
// during a wait.
func Run(ctx context.Context, setDTR, setRTS func(bool) error) error {
	for _, st := range Steps {
		if err := setDTR(st.DTR); err != nil {
			return err
		}
		if err := setRTS(st.RTS); err != nil {
			return err
		}
		t := time.NewTimer(st.Wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
	}
	return nil
}
