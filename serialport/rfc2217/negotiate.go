package rfc2217

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
)

// optState is one side's state of one telnet option (RFC 1143's NO, YES
// and WANTYES; this client never asks to turn an option off, so WANTNO
// does not arise).
type optState uint8

const (
	optNo optState = iota
	optYes
	optWant // we asked, no answer yet
)

// awaitNegotiation waits until the server has answered BINARY (both ways)
// and COM-PORT-OPTION. SUPPRESS-GO-AHEAD is asked for but not waited for:
// on a full-duplex TCP connection nobody sends go-aheads that matter.
func (c *Conn) awaitNegotiation(ctx context.Context) error {
	timer := time.NewTimer(c.opts.AckTimeout)
	defer timer.Stop()
	for {
		c.mu.Lock()
		us, them, comPort := c.us[optBinary], c.them[optBinary], c.us[optComPort]
		done := us != optWant && them != optWant && comPort != optWant
		if done {
			c.negotiated = true
		}
		c.mu.Unlock()
		if done {
			switch {
			case comPort != optYes:
				return &Error{Op: "negotiate", Addr: c.addr, Kind: Protocol,
					Err:  errors.New("the server refused COM-PORT-OPTION (RFC 2217)"),
					Hint: "the port is plain telnet; in ser2net's configuration use accepter: telnet(rfc2217),tcp,..."}
			case us != optYes || them != optYes:
				return &Error{Op: "negotiate", Addr: c.addr, Kind: Protocol,
					Err:  errors.New("the server refused telnet BINARY mode, so the line would not carry 8-bit data"),
					Hint: "configure the server to allow binary transmission"}
			}
			return nil
		}
		select {
		case <-c.negChanged:
		case <-ctx.Done():
			return &Error{Op: "negotiate", Addr: c.addr, Kind: Timeout, Err: ctx.Err()}
		case <-c.readDone:
			return c.earlyClose()
		case <-timer.C:
			c.mu.Lock()
			rx, cmds := c.rxBytes, c.commands
			c.mu.Unlock()
			return c.silentServer(rx, cmds)
		}
	}
}

// earlyClose explains a server that hung up before negotiating.
func (c *Conn) earlyClose() error {
	c.mu.Lock()
	greeting := string(c.greeting)
	cause := c.err
	c.mu.Unlock()
	var e *Error
	if errors.As(cause, &e) && e.Kind != Closed {
		return e // the reader gave up on the server's bytes: say why
	}
	text := strings.TrimSpace(strings.Map(func(r rune) rune {
		if r < ' ' || r > '~' {
			return ' '
		}
		return r
	}, greeting))
	if text == "" {
		return &Error{Op: "negotiate", Addr: c.addr, Kind: Closed, Err: cause,
			Hint: "the server closed the connection before negotiating; check its log"}
	}
	kind := Closed
	if strings.Contains(strings.ToLower(text), "in use") {
		kind = Busy
	}
	return &Error{Op: "negotiate", Addr: c.addr, Kind: kind,
		Err: fmt.Errorf("the server said %q and closed the connection", text)}
}

// silentServer explains a negotiation that did not finish in time.
func (c *Conn) silentServer(rx, cmds int64) error {
	err := fmt.Errorf("no answer to the telnet negotiation after %v", c.opts.AckTimeout)
	switch {
	case rx == 0 && cmds == 0:
		return &Error{Op: "negotiate", Addr: c.addr, Kind: Timeout, Err: err,
			Hint: "the server sent nothing: is this an RFC 2217 port? (ser2net: accepter telnet(rfc2217),tcp,...)"}
	case cmds == 0:
		return &Error{Op: "negotiate", Addr: c.addr, Kind: Protocol, Err: err,
			Hint: "the server sent data but no telnet commands: a raw TCP port; configure it as telnet(rfc2217)"}
	}
	return &Error{Op: "negotiate", Addr: c.addr, Kind: Timeout, Err: err,
		Hint: "the server speaks telnet but did not agree to BINARY and COM-PORT-OPTION"}
}

// option answers a WILL, WONT, DO or DONT from the server.
func (c *Conn) option(verb, opt byte) {
	var reply []byte
	c.mu.Lock()
	c.commands++
	switch verb {
	case cmdWILL, cmdWONT: // about the server's side
		// A server's WILL COM-PORT-OPTION is not in RFC 2217 (the client
		// offers, the server agrees), but pyserial's server sends one and
		// agreeing costs nothing.
		reply = negotiate(&c.them[opt], verb == cmdWILL, opt == optBinary || opt == optSGA || opt == optComPort,
			cmdDO, cmdDONT, opt)
	case cmdDO, cmdDONT: // about ours
		reply = negotiate(&c.us[opt], verb == cmdDO, opt == optBinary || opt == optSGA || opt == optComPort,
			cmdWILL, cmdWONT, opt)
	}
	c.mu.Unlock()
	signal(c.negChanged)
	if reply != nil {
		c.queueCtrl(reply)
	}
}

// negotiate applies the peer's request or answer on (WILL/DO) or off
// (WONT/DONT) to st, and returns the reply, if one is due. It never
// acknowledges a state already held, which is what keeps two telnet
// implementations from answering each other forever (RFC 854).
func negotiate(st *optState, on, accept bool, yes, no, opt byte) []byte {
	switch {
	case on && *st == optNo:
		if accept {
			*st = optYes
			return []byte{cmdIAC, yes, opt}
		}
		return []byte{cmdIAC, no, opt}
	case on && *st == optWant:
		*st = optYes
	case !on && *st == optYes:
		*st = optNo
		return []byte{cmdIAC, no, opt}
	case !on && *st == optWant:
		*st = optNo // refused
	}
	return nil
}
