package eembc

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/tinyprof/tinyprof/firmware"
)

// Protocol is what a board on a serial line speaks, as Detect found it.
type Protocol uint8

// The protocols Detect tells apart.
const (
	// Undecided is a line that said nothing decisive: a tinyprof agent
	// that booted before the port was opened, or a silent board.
	Undecided Protocol = iota
	// EEMBC is a DUT running the EEMBC EnergyRunner firmware.
	EEMBC
	// Tinyprof is a board that sent a tinyprof frame (an agent's boot
	// INFO or a LOG).
	Tinyprof
)

func (p Protocol) String() string {
	switch p {
	case EEMBC:
		return "eembc"
	case Tinyprof:
		return "tinyprof"
	}
	return "undecided"
}

// DetectOptions bound Detect. The zero value is usable.
type DetectOptions struct {
	// Listen is how long Detect only listens, for the boot lines of a
	// board that the port's opening reset. Default 50 ms.
	Listen time.Duration
	// Probe is how long Detect waits for the answer to "name%" when
	// listening settled nothing. A DUT answers in a few milliseconds at
	// 115200 baud and in about 40 at 9600; a simulated DUT on a loaded
	// host (a -race suite running scripts in parallel) took over 200.
	// Default 600 ms: a tinyprof agent, which ignores the probe, costs
	// that much at every connection.
	Probe time.Duration
}

// Detection is what Detect found.
type Detection struct {
	Protocol Protocol
	// Evidence is the line (or "a frame") that decided, for messages.
	Evidence string
	// Probed reports whether "name%" was sent.
	Probed bool
}

// ErrIsEEMBC matches, with errors.Is, the error of a tool that refused to
// send tinyprof frames to a board that Detect found to be an EEMBC DUT.
var ErrIsEEMBC = errors.New("the board runs the EEMBC EnergyRunner firmware")

// Detect tells an EEMBC DUT from a tinyprof agent on rw before either is
// sent anything it would keep. A tinyprof frame in an EEMBC DUT's command
// buffer puts a NUL at its start, and the reference firmware's parser then
// dereferences the NULL that strtok returns on its next command; so a host
// must know which firmware it faces before its first frame.
//
// Detect first listens for opts.Listen: a DUT prints "m-timestamp-mode-…",
// "m-init-done" and "m-ready" at boot, a tinyprof agent an unsolicited INFO
// frame. If that settled nothing (a board that booted before the port was
// opened announces nothing), it sends "name%", which an EEMBC DUT answers
// with "m-name-dut-[…]" and "m-ready", and a tinyprof agent takes for text
// between frames and ignores (PROTOCOL.md §1; the C agent answers the text
// with ERROR(BAD_FRAME) once the next frame's delimiter ends it, and the
// host resends). Both leave the DUT's command buffer empty.
//
// It costs Listen plus, for an undecided line, Probe, each rounded up to
// rw's quiet-read period. rw's Read must return within a bounded time on a
// quiet line (serialport.Port returns a timeout after about 100 ms), or rw
// must have a SetReadDeadline method, which Detect then uses and clears.
// Bytes Detect read are consumed; a tinyprof host says Hello next anyway.
func Detect(ctx context.Context, rw io.ReadWriter, opts DetectOptions) (Detection, error) {
	if opts.Listen <= 0 {
		opts.Listen = 50 * time.Millisecond
	}
	if opts.Probe <= 0 {
		opts.Probe = 600 * time.Millisecond
	}
	s := &sniffer{rw: rw, dec: firmware.NewDecoder(firmware.MaxPayloadLimit)}
	if rd, ok := rw.(readDeadliner); ok {
		s.rd = rd
		defer rd.SetReadDeadline(time.Time{})
	}
	d, err := s.until(ctx, time.Now().Add(opts.Listen))
	if err != nil || d.Protocol != Undecided {
		return d, err
	}
	if _, err := io.WriteString(rw, "name%"); err != nil {
		return Detection{}, fmt.Errorf("eembc: detect: write name%%: %w", err)
	}
	d, err = s.until(ctx, time.Now().Add(opts.Probe))
	d.Probed = true
	return d, err
}

// sniffer classifies what a line sends, frame by frame and line by line.
type sniffer struct {
	rw  io.Reader
	rd  readDeadliner
	dec *firmware.Decoder
	buf [512]byte
}

// until reads until the line has decided, or deadline passes.
func (s *sniffer) until(ctx context.Context, deadline time.Time) (Detection, error) {
	var found Detection
	emit := func(e firmware.Event) {
		if found.Protocol != Undecided {
			return
		}
		switch {
		case e.Kind == firmware.EventFrame:
			found = Detection{Protocol: Tinyprof, Evidence: "a tinyprof " + e.Frame.Type.String() + " frame"}
		case e.Kind == firmware.EventText:
			if l := strings.TrimSpace(strings.ReplaceAll(e.Text, "\x00", "")); strings.HasPrefix(l, "m-") {
				found = Detection{Protocol: EEMBC, Evidence: l}
			}
		}
	}
	for time.Now().Before(deadline) {
		if err := ctx.Err(); err != nil {
			return Detection{}, err
		}
		if s.rd != nil {
			if err := s.rd.SetReadDeadline(deadline); err != nil {
				return Detection{}, fmt.Errorf("eembc: detect: %w", err)
			}
		}
		n, err := s.rw.Read(s.buf[:])
		s.dec.Feed(s.buf[:n], emit)
		if found.Protocol != Undecided {
			return found, nil
		}
		var te interface{ Timeout() bool }
		if err != nil && !(errors.As(err, &te) && te.Timeout()) {
			return Detection{}, fmt.Errorf("eembc: detect: read: %w", err)
		}
	}
	return Detection{}, nil
}
