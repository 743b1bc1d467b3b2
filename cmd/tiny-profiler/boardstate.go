package main

import (
	"errors"
	"fmt"

	"github.com/tinyprof/tinyprof/device"
	"github.com/tinyprof/tinyprof/lab"
	"github.com/tinyprof/tinyprof/serialport"
)

// boardState is what every command calls a board it could not use, so
// that emergency-reset, health-check, test-connection and the incident
// report never disagree about the same board.
type boardState string

// The states of a board a command could not use.
const (
	// stateBusy is a board someone else has: leased, or its port open in
	// another process. Nothing is wrong with it; wait or ask the holder.
	stateBusy boardState = "busy"
	// stateGone is a board that is not there: its port is missing, or
	// nothing answers on it. Power, cables and USB are the suspects.
	stateGone boardState = "gone"
	// stateBroken is a board that is there and misbehaves: it answers
	// with garbage, another protocol, an error, or the OS refuses it.
	stateBroken boardState = "broken"
)

// classify returns the state of a board whose use failed with err. A lease held by someone else is busy before
// anything else: the port of a leased board is usually open in the
// holder's process too, and the lease names the holder properly.
func classify(err error) boardState {
	var se *serialport.Error
	port := errors.As(err, &se)
	switch {
	case errors.Is(err, lab.ErrHeld), errors.Is(err, device.ErrPortBusy), port && se.Kind == serialport.Busy:
		return stateBusy
	case errors.Is(err, device.ErrPortMissing), errors.Is(err, device.ErrTimeout), errors.Is(err, device.ErrClosed), errors.Is(err, lab.ErrNoSuchBoard), port && se.Kind == serialport.Missing:
		return stateGone
	}
	return stateBroken
}

// hint says what to do about a board in state s.
func (s boardState) hint() string {
	switch s {
	case stateBusy:
		return "left alone: wait for the holder to finish; `tiny-profiler leases` lists who holds what"
	case stateGone:
		return "check power and cables, then `tiny-profiler detect-devices`"
	case stateBroken:
		return "see `tiny-profiler debug-device --device ID`; reflash with `tiny-profiler flash` if it stays so"
	}
	return ""
}

// countOf returns "1 board" or "2 boards".
func countOf(n int, one, many string) string {
	if n == 1 {
		return fmt.Sprintf("%d %s", n, one)
	}
	return fmt.Sprintf("%d %s", n, many)
}

// errorCode returns the device error code of err as text ("port busy",
// "timeout"…), "leased" for a lease held by another, or "" when err is
// none of those.
func errorCode(err error) string {
	var de *device.Error
	var se *serialport.Error
	switch {
	case err == nil:
		return ""
	case errors.Is(err, lab.ErrHeld):
		return "leased"
	case errors.As(err, &de):
		return de.Code.String()
	case errors.As(err, &se):
		return se.Kind.String()
	}
	return ""
}

