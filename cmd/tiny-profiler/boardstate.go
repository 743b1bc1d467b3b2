package main

import (
	"errors"
	"fmt"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/tinyprof/tinyprof/device"
	"github.com/tinyprof/tinyprof/device/eembc"
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
	case errors.Is(err, device.ErrPortMissing), errors.Is(err, device.ErrTimeout), errors.Is(err, device.ErrClosed), errors.Is(err, lab.ErrNoSuchBoard), port && se.Kind == serialport.Missing,
		silentDUT(err):
		return stateGone
	}
	return stateBroken
}

// silentDUT reports whether err is an EEMBC command to which nothing at
// all came back; a reply that began and stopped is a hung DUT, broken.
func silentDUT(err error) bool {
	var te *eembc.TimeoutError
	return errors.As(err, &te) && len(te.Partial) == 0
}

// fromBoard reports whether err is about a board: what its port, its
// lease or its firmware did, as opposed to a mistake on the command line
// or in a file.
func fromBoard(err error) bool {
	var de *device.Error
	var se *serialport.Error
	var te *eembc.TimeoutError
	var dutErr *eembc.DUTError
	return errors.As(err, &de) || errors.As(err, &se) || errors.As(err, &te) || errors.As(err, &dutErr) ||
		errors.Is(err, lab.ErrHeld) || errors.Is(err, eembc.ErrIsEEMBC) || errors.Is(err, eembc.ErrNoReady)
}

// stateError is a board command's failure, said as busy, gone or broken
// first, as every command says it.
type stateError struct {
	state boardState
	err   error
}

func (e *stateError) Error() string { return string(e.state) + ": " + e.err.Error() }
func (e *stateError) Unwrap() error { return e.err }

// boardFailure returns err, if it is about a board, prefixed with the
// board's state (classify): "busy: …", "gone: …" or "broken: …". Other
// errors, usage mistakes and exit statuses among them, pass unchanged.
func boardFailure(err error) error {
	var ue usageError
	var ex exitError
	var se *stateError
	if err == nil || errors.As(err, &ue) || errors.As(err, &ex) || errors.As(err, &se) || !fromBoard(err) {
		return err
	}
	return &stateError{state: classify(err), err: err}
}

// onBoard makes c a board command: its failure goes through boardFailure,
// so that every command that talks to one board calls a board it could
// not use busy, gone or broken, as health-check and emergency-reset do.
func onBoard(c *cobra.Command) *cobra.Command {
	run := c.RunE
	c.RunE = func(c *cobra.Command, args []string) error { return boardFailure(run(c, args)) }
	return c
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

// boardIdentity is the name the journal gives the board of entry e, so
// that one board is one row of an incident report whichever way a
// command named it: its inventory id; else, for a board on a port, the
// USB serial number the port reports or the id of the inventory entry on
// that port (inventory is the --inventory flag); else the port. A
// simulated or emulated board started for one command has no lasting
// identity, so it is named for its kind and platform ("sim:esp32s3"),
// never for a pty that the next run will not have.
func boardIdentity(e lab.Entry, inventory string) string {
	if e.ID != "" {
		return e.ID
	}
	switch e.Kind() {
	case lab.KindSimulated:
		return "sim:" + e.Platform
	case lab.KindEmulated:
		return "emu:" + e.Emulate
	}
	if p := hostPort(e.Port); p != nil && p.SerialNumber != "" {
		return p.SerialNumber
	}
	if path, err := lab.InventoryPath(inventory); err == nil {
		if inv, err := lab.LoadInventory(path); err == nil {
			real, _ := filepath.EvalSymlinks(e.Port)
			for _, b := range inv.Boards {
				if b.Port == "" || b.ID == "" {
					continue
				}
				if r, _ := filepath.EvalSymlinks(b.Port); b.Port == e.Port || (r != "" && r == real) {
					return b.ID
				}
			}
		}
	}
	return e.Port
}

// boardDetails are the journal details every event about entry e
// carries: simulated and emulated, so that a report labels modelled and
// emulated figures, and the port when the identity is not the port.
func boardDetails(e lab.Entry, id string) map[string]any {
	d := map[string]any{"simulated": e.Kind() == lab.KindSimulated, "emulated": e.Kind() == lab.KindEmulated}
	if e.Port != "" && e.Port != id {
		d["port"] = e.Port
	}
	return d
}

// failureDetails adds err's code, text and board state to d.
func failureDetails(d map[string]any, err error) map[string]any {
	if err == nil {
		return d
	}
	d["error"] = err.Error()
	d["state"] = string(classify(err))
	if code := errorCode(err); code != "" {
		d["code"] = code
	}
	return d
}

// connectionFailure reports whether err says the host could not reach
// the board (as opposed to a usage mistake, or a board that answered and
// then failed a request on its merits): these feed the runbook's device
// connection failure rate. A lease held by another is not an attempt.
func connectionFailure(err error) bool {
	var se *serialport.Error
	switch {
	case errors.Is(err, lab.ErrHeld):
		return false
	case errors.Is(err, device.ErrPortMissing), errors.Is(err, device.ErrPortBusy), errors.Is(err, device.ErrPermission),
		errors.Is(err, device.ErrTimeout), errors.Is(err, device.ErrClosed), errors.Is(err, device.ErrNoProtocol),
		errors.Is(err, device.ErrVersion), errors.Is(err, device.ErrCRC):
		return true
	case errors.As(err, &se):
		return true
	}
	return false
}
