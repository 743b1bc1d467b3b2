package rfc2217

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"

	"github.com/tinyprof/tinyprof/internal/espreset"
)

// COM-PORT-OPTION commands, client to server (RFC 2217 §3); the server
// answers each with the code plus serverOffset.
const (
	cpSignature     = 0
	cpSetBaud       = 1
	cpSetDataSize   = 2
	cpSetParity     = 3
	cpSetStopSize   = 4
	cpSetControl    = 5
	cpNotifyLine    = 6
	cpNotifyModem   = 7
	cpFlowSuspend   = 8
	cpFlowResume    = 9
	cpPurgeData     = 12
	cpMaxClientCode = 12
	serverOffset    = 100
)

// SET-CONTROL values this client sends.
const (
	ctlDTRRequest = 7
	ctlDTROn      = 8
	ctlDTROff     = 9
	ctlRTSOn      = 11
	ctlRTSOff     = 12
)

// controlGroup returns which setting a SET-CONTROL value is about, so that
// an answer about DTR is never taken for one about RTS (RFC 2217 groups
// the values: flow control 0–3, BREAK 4–6, DTR 7–9, RTS 10–12, inbound
// flow control 13–16, 17–19 further outbound flow control).
func controlGroup(v byte) byte {
	switch {
	case v <= 3:
		return 1
	case v <= 6:
		return 2
	case v <= 9:
		return 3
	case v <= 12:
		return 4
	case v <= 16:
		return 5
	}
	return 1 // 17–19 are outbound flow control, as 0–3
}

// Purge says which of the server's buffers PURGE-DATA empties.
type Purge byte

// The buffers.
const (
	// PurgeReceive drops what the server received from the serial port
	// and has not yet sent to us.
	PurgeReceive Purge = 1
	// PurgeTransmit drops what we sent that the server has not yet
	// written to the serial port.
	PurgeTransmit Purge = 2
	PurgeBoth     Purge = 3
)

// ModemState is the modem-state byte of NOTIFY-MODEMSTATE (RFC 2217).
type ModemState byte

// The modem-state bits.
const (
	ModemCD       ModemState = 0x80 // carrier detect
	ModemRI       ModemState = 0x40 // ring indicator
	ModemDSR      ModemState = 0x20
	ModemCTS      ModemState = 0x10
	ModemDeltaCD  ModemState = 0x08
	ModemRingEdge ModemState = 0x04 // trailing edge of RI
	ModemDeltaDSR ModemState = 0x02
	ModemDeltaCTS ModemState = 0x01
)

func (m ModemState) String() string {
	return bitNames(byte(m), []string{"ΔCTS", "ΔDSR", "TERI", "ΔCD", "CTS", "DSR", "RI", "CD"})
}

// LineState is the line-state byte of NOTIFY-LINESTATE (RFC 2217).
type LineState byte

// The line-state bits.
const (
	LineTimeout   LineState = 0x80 // time-out error
	LineTSREmpty  LineState = 0x40 // transfer shift register empty
	LineTHREmpty  LineState = 0x20 // transfer holding register empty
	LineBreak     LineState = 0x10 // break detected
	LineFraming   LineState = 0x08 // framing error
	LineParity    LineState = 0x04 // parity error
	LineOverrun   LineState = 0x02 // overrun error
	LineDataReady LineState = 0x01
)

func (l LineState) String() string {
	return bitNames(byte(l), []string{"data-ready", "overrun", "parity-error", "framing-error",
		"break", "THR-empty", "TSR-empty", "timeout"})
}

func bitNames(b byte, names []string) string {
	var s []string
	for i, n := range names {
		if b&(1<<i) != 0 {
			s = append(s, n)
		}
	}
	if len(s) == 0 {
		return "none"
	}
	return strings.Join(s, "|")
}

// SetLine sets the server's port to baud, data bits, parity and stop bits,
// waiting for each acknowledgement. A server that applies another value
// than asked (a baud rate its UART cannot make) is an error of Kind
// Settings.
func (c *Conn) SetLine(ctx context.Context, baud, dataBits int, parity Parity, stop StopBits) error {
	o := Options{Baud: baud, DataBits: dataBits, Parity: parity, StopBits: stop}
	if err := o.validate(); err != nil || baud == 0 {
		if err == nil {
			err = errors.New("baud rate 0")
		}
		return &Error{Op: "set line", Addr: c.addr, Kind: Settings, Err: err}
	}
	var b [4]byte
	binary.BigEndian.PutUint32(b[:], uint32(baud))
	steps := []struct {
		op    string
		code  byte
		value []byte
		show  func([]byte) string
	}{
		{"set baud rate", cpSetBaud, b[:], func(v []byte) string {
			if len(v) != 4 {
				return fmt.Sprintf("% x", v)
			}
			return fmt.Sprint(binary.BigEndian.Uint32(v))
		}},
		{"set data size", cpSetDataSize, []byte{byte(dataBits)}, func(v []byte) string { return fmt.Sprintf("%v bits", v) }},
		{"set parity", cpSetParity, []byte{byte(parity)}, func(v []byte) string {
			if len(v) == 1 {
				return Parity(v[0]).String()
			}
			return fmt.Sprintf("% x", v)
		}},
		{"set stop size", cpSetStopSize, []byte{byte(stop)}, func(v []byte) string {
			if len(v) == 1 {
				return StopBits(v[0]).String()
			}
			return fmt.Sprintf("% x", v)
		}},
	}
	for _, s := range steps {
		got, err := c.command(ctx, s.op, s.code, 0, s.value...)
		if err != nil {
			return err
		}
		if string(got) != string(s.value) {
			return &Error{Op: s.op, Addr: c.addr, Kind: Settings,
				Err:  fmt.Errorf("asked for %s, the server set %s", s.show(s.value), s.show(got)),
				Hint: "the server's serial port cannot take this setting; use one it supports"}
		}
	}
	return nil
}

// SetDTR asserts (on) or releases the remote port's DTR line.
func (c *Conn) SetDTR(ctx context.Context, on bool) error {
	v := byte(ctlDTROff)
	if on {
		v = ctlDTROn
	}
	return c.setControl(ctx, "set DTR", v)
}

// SetRTS asserts (on) or releases the remote port's RTS line.
func (c *Conn) SetRTS(ctx context.Context, on bool) error {
	v := byte(ctlRTSOff)
	if on {
		v = ctlRTSOn
	}
	return c.setControl(ctx, "set RTS", v)
}

// setControl sends SET-CONTROL v and checks the answer. A server that
// does not answer but answers a state query is alive and simply could not
// drive the line (ser2net in front of a pseudo-terminal does this):
// NoResetLines, as a local pty reports.
func (c *Conn) setControl(ctx context.Context, op string, v byte) error {
	got, err := c.command(ctx, op, cpSetControl, controlGroup(v), v)
	var e *Error
	if errors.As(err, &e) && e.Kind == Timeout && ctx.Err() == nil {
		if _, qerr := c.command(ctx, op, cpSetControl, controlGroup(ctlDTRRequest), ctlDTRRequest); qerr == nil {
			return &Error{Op: op, Addr: c.addr, Kind: NoResetLines, Err: e.Err,
				Hint: "the server answers but did not set the line: its port has no DTR/RTS (a pty?); " +
					"use a protocol reset or press the board's reset button"}
		}
		return err
	}
	if err != nil {
		return err
	}
	if len(got) != 1 || got[0] != v {
		return &Error{Op: op, Addr: c.addr, Kind: NoResetLines,
			Err:  fmt.Errorf("asked for SET-CONTROL %d, the server answered % x", v, got),
			Hint: "the server's port did not take the line change"}
	}
	return nil
}

// HardReset resets an ESP32-style board through DTR (to IO0) and RTS (to
// EN) with the same sequence and timing as serialport.Port.HardReset,
// leaving both lines released so the board boots its application. The
// waits run from the server's acknowledgement of each step.
func (c *Conn) HardReset(ctx context.Context) error {
	err := espreset.Run(ctx,
		func(v bool) error { return c.SetDTR(ctx, v) },
		func(v bool) error { return c.SetRTS(ctx, v) })
	switch {
	case err == nil:
		return nil
	case ctx.Err() != nil && errors.Is(err, ctx.Err()):
		return &Error{Op: "hard reset", Addr: c.addr, Kind: Timeout, Err: err}
	}
	return relabel(err, "hard reset")
}

func relabel(err error, op string) error {
	var e *Error
	if errors.As(err, &e) {
		cp := *e
		cp.Op = op + ": " + e.Op
		return &cp
	}
	return err
}

// Purge empties the server's buffers (PURGE-DATA). Purging PurgeReceive
// also drops what this Conn received before the server's answer: it was
// sent before the purge.
func (c *Conn) Purge(ctx context.Context, which Purge) error {
	if which < PurgeReceive || which > PurgeBoth {
		return &Error{Op: "purge", Addr: c.addr, Kind: Settings, Err: fmt.Errorf("unknown purge %d", which)}
	}
	got, err := c.command(ctx, "purge", cpPurgeData, 0, byte(which))
	if err != nil {
		return err
	}
	if len(got) != 1 || got[0] != byte(which) {
		return &Error{Op: "purge", Addr: c.addr, Kind: Protocol,
			Err: fmt.Errorf("asked to purge %d, the server answered % x", which, got)}
	}
	return nil
}

// command sends COM-PORT-OPTION code with value and waits for the answer
// (code + 100), bounded by ctx and AckTimeout. For SET-CONTROL, group
// picks which answers count (see controlGroup). It returns a copy of the
// answer's value.
func (c *Conn) command(ctx context.Context, op string, code, group byte, value ...byte) ([]byte, error) {
	select {
	case <-c.closing:
		return nil, c.closedError(op)
	default:
	}
	select {
	case c.cmdSem <- struct{}{}:
	case <-ctx.Done():
		return nil, &Error{Op: op, Addr: c.addr, Kind: Timeout, Err: ctx.Err()}
	case <-c.closing:
		return nil, c.closedError(op)
	}
	defer func() { <-c.cmdSem }()

	p := &pending{code: code, group: group, ch: make(chan []byte, 1)}
	c.mu.Lock()
	c.pending = p
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		c.pending = nil
		c.mu.Unlock()
	}()
	// AckTimeout bounds the whole exchange, the send too: a server that
	// stops reading fills the socket and the control queue behind it.
	actx, cancel := context.WithTimeout(ctx, c.opts.AckTimeout)
	defer cancel()
	timedOut := func() error {
		if ctx.Err() != nil {
			return &Error{Op: op, Addr: c.addr, Kind: Timeout, Err: ctx.Err()}
		}
		return &Error{Op: op, Addr: c.addr, Kind: Timeout,
			Err:  fmt.Errorf("no acknowledgement after %v", c.opts.AckTimeout),
			Hint: "the server did not answer this COM-PORT-OPTION command, or is not reading"}
	}
	payload := append([]byte{code}, value...)
	if err := c.sendCtrl(actx, op, subneg(optComPort, payload...)); err != nil {
		if actx.Err() != nil {
			return nil, timedOut()
		}
		return nil, err
	}
	select {
	case v := <-p.ch:
		return v, nil
	case <-actx.Done():
		return nil, timedOut()
	case <-c.closing:
		return nil, c.closedError(op)
	case <-c.readDone:
		return nil, c.readErr()
	}
}

// comPort handles a COM-PORT-OPTION subnegotiation from the server, in
// the reader goroutine.
func (c *Conn) comPort(sub []byte) {
	if len(sub) == 0 {
		return
	}
	code, val := sub[0], sub[1:]
	if code < serverOffset || code > serverOffset+cpMaxClientCode {
		return // a client's command sent by a server, or unknown: ignore
	}
	code -= serverOffset
	var reply []byte
	c.mu.Lock()
	switch code {
	case cpNotifyLine:
		if len(val) == 1 {
			c.line, c.lineSeen = LineState(val[0]), true
		}
	case cpNotifyModem:
		if len(val) == 1 {
			c.modem, c.modemSeen = ModemState(val[0]), true
		}
	case cpFlowSuspend, cpFlowResume:
		// Recorded only: TCP's own window already stops us when the
		// server stops reading, and neither ser2net nor pyserial sends these.
		c.suspended = code == cpFlowSuspend
	case cpSignature:
		if len(val) == 0 {
			reply = subneg(optComPort, append([]byte{cpSignature}, signature...)...)
		} else {
			c.serverSig = string(val)
		}
	}
	if p := c.pending; p != nil && p.code == code &&
		(code != cpSetControl || (len(val) == 1 && controlGroup(val[0]) == p.group)) {
		c.pending = nil
		p.ch <- append([]byte(nil), val...)
		if code == cpPurgeData && len(val) == 1 && Purge(val[0])&PurgeReceive != 0 {
			c.ring.reset()
		}
	}
	c.mu.Unlock()
	if reply != nil {
		c.queueCtrl(reply)
	}
}

// Signature asks the server for its signature text (SIGNATURE) and returns
// it; ser2net answers "ser2net".
func (c *Conn) Signature(ctx context.Context) (string, error) {
	got, err := c.command(ctx, "signature", cpSignature, 0)
	if err != nil {
		return "", err
	}
	return string(got), nil
}
