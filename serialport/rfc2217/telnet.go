package rfc2217

import "bytes"

// Telnet command bytes (RFC 854) that this client sends or interprets.
const (
	cmdSE   = 240 // end of subnegotiation
	cmdSB   = 250 // start of subnegotiation
	cmdWILL = 251
	cmdWONT = 252
	cmdDO   = 253
	cmdDONT = 254
	cmdIAC  = 255 // interpret as command; doubled in data
)

// Telnet options this client knows by name.
const (
	optBinary  = 0  // RFC 856: 8-bit clean data, no CR NUL stuffing
	optEcho    = 1  // RFC 857: refused, a serial line echoes nothing itself
	optSGA     = 3  // RFC 858: suppress go-ahead
	optComPort = 44 // RFC 2217: COM-PORT-OPTION
)

// maxSubneg bounds a subnegotiation's payload. The longest one RFC 2217
// defines with a fixed size is SET-BAUDRATE (a code and four bytes); a
// SIGNATURE is free text, and 256 bytes is far more than any server's name.
// A longer one is a hostile or broken peer.
const maxSubneg = 256

// eventKind says what a decoded piece of the stream is.
type eventKind uint8

const (
	evData     eventKind = iota + 1 // data bytes for the reader
	evOption                        // WILL, WONT, DO or DONT with an option
	evSubneg                        // a complete IAC SB ... IAC SE
	evCommand                       // another two-byte command (NOP, GA, AYT, ...): ignored
	evOverlong                      // a subnegotiation longer than maxSubneg
)

// event is one piece of the decoded stream. data and sub alias the
// decoder's input or buffer and are valid only during the callback.
type event struct {
	kind eventKind
	data []byte // evData
	verb byte   // evOption: cmdWILL..cmdDONT; evCommand: the command byte
	opt  byte   // evOption, evSubneg: the option
	sub  []byte // evSubneg: the payload, IAC IAC already undone
}

// decoder states.
const (
	stData   = iota // plain data
	stIAC           // after IAC
	stVerb          // after IAC WILL/WONT/DO/DONT, waiting for the option
	stSBOpt         // after IAC SB, waiting for the option
	stSB            // inside a subnegotiation
	stSBIAC         // after IAC inside a subnegotiation
	stSBSkip        // inside an overlong subnegotiation, discarding
	stSBSkipIAC
)

// decoder splits a telnet byte stream into data and commands. It keeps at
// most maxSubneg bytes of state whatever it is fed, and the split of the
// input into Feed calls does not change what it reports.
type decoder struct {
	state int
	verb  byte
	sbOpt byte
	sb    [maxSubneg]byte
	sbLen int
}

// feed decodes in, calling emit for each event in stream order.
func (d *decoder) feed(in []byte, emit func(event)) {
	for len(in) > 0 {
		if d.state == stData {
			// The common case: a run of data up to the next IAC, passed
			// through without copying.
			i := bytes.IndexByte(in, cmdIAC)
			if i < 0 {
				emit(event{kind: evData, data: in})
				return
			}
			if i > 0 {
				emit(event{kind: evData, data: in[:i]})
			}
			d.state = stIAC
			in = in[i+1:]
			continue
		}
		b := in[0]
		switch d.state {
		case stIAC:
			switch {
			case b == cmdIAC:
				emit(event{kind: evData, data: in[:1]})
				d.state = stData
			case b >= cmdWILL: // WILL, WONT, DO, DONT
				d.verb, d.state = b, stVerb
			case b == cmdSB:
				d.state = stSBOpt
			default:
				// NOP, DM, BRK, IP, AO, AYT, EC, EL, GA, a stray SE, or
				// a byte RFC 854 leaves undefined: no effect on a line.
				emit(event{kind: evCommand, verb: b})
				d.state = stData
			}
		case stVerb:
			emit(event{kind: evOption, verb: d.verb, opt: b})
			d.state = stData
		case stSBOpt:
			d.sbOpt, d.sbLen, d.state = b, 0, stSB
		case stSB:
			if b == cmdIAC {
				d.state = stSBIAC
			} else {
				d.sbByte(b, emit)
			}
		case stSBIAC:
			switch b {
			case cmdIAC:
				d.state = stSB
				d.sbByte(cmdIAC, emit)
			case cmdSE:
				emit(event{kind: evSubneg, opt: d.sbOpt, sub: d.sb[:d.sbLen]})
				d.state = stData
			default:
				// RFC 855 allows only IAC SE or IAC IAC here. A peer that
				// forgot the SE: drop the unfinished subnegotiation and
				// read the command, so that the stream recovers.
				d.state = stIAC
				continue // reprocess b as the byte after IAC
			}
		case stSBSkip:
			if b == cmdIAC {
				d.state = stSBSkipIAC
			}
		case stSBSkipIAC:
			switch b {
			case cmdIAC:
				d.state = stSBSkip
			case cmdSE:
				d.state = stData
			default:
				d.state = stIAC
				continue
			}
		}
		in = in[1:]
	}
}

// sbByte appends b to the subnegotiation, or switches to discarding it
// when it grows past maxSubneg.
func (d *decoder) sbByte(b byte, emit func(event)) {
	if d.sbLen == len(d.sb) {
		emit(event{kind: evOverlong, opt: d.sbOpt})
		d.state = stSBSkip
		return
	}
	d.sb[d.sbLen] = b
	d.sbLen++
	d.state = stSB
}

// appendEscaped appends p to dst with every IAC doubled, as telnet data
// and subnegotiation payloads both require.
func appendEscaped(dst, p []byte) []byte {
	for {
		i := bytes.IndexByte(p, cmdIAC)
		if i < 0 {
			return append(dst, p...)
		}
		dst = append(dst, p[:i+1]...)
		dst = append(dst, cmdIAC)
		p = p[i+1:]
	}
}

// subneg returns IAC SB opt payload IAC SE with the payload escaped.
func subneg(opt byte, payload ...byte) []byte {
	b := make([]byte, 0, len(payload)+8)
	b = append(b, cmdIAC, cmdSB, opt)
	b = appendEscaped(b, payload)
	return append(b, cmdIAC, cmdSE)
}
