package rfc2217

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// decoded is an event in a form cmp can compare: data runs merged.
type decoded struct {
	Kind eventKind
	Data string
	Verb byte
	Opt  byte
	Sub  string
}

// decodeAll feeds in to a fresh decoder in pieces of the given sizes
// (cycled; nil means all at once) and returns what it reported.
func decodeAll(in []byte, pieces []int) []decoded {
	var d decoder
	var out []decoded
	emit := func(e event) {
		if e.kind == evData {
			if n := len(out); n > 0 && out[n-1].Kind == evData {
				out[n-1].Data += string(e.data)
				return
			}
			out = append(out, decoded{Kind: evData, Data: string(e.data)})
			return
		}
		out = append(out, decoded{Kind: e.kind, Verb: e.verb, Opt: e.opt, Sub: string(e.sub)})
	}
	for i := 0; len(in) > 0; i++ {
		n := len(in)
		if len(pieces) > 0 {
			n = min(max(pieces[i%len(pieces)], 1), len(in))
		}
		d.feed(in[:n], emit)
		in = in[n:]
	}
	return out
}

func TestDecoder(t *testing.T) {
	long := bytes.Repeat([]byte{'x'}, maxSubneg+10)
	tests := []struct {
		name string
		in   []byte
		want []decoded
	}{
		{"plain data", []byte("hello"), []decoded{{Kind: evData, Data: "hello"}}},
		{"doubled IAC is one 0xFF", []byte{'a', 255, 255, 'b'}, []decoded{{Kind: evData, Data: "a\xffb"}}},
		{"option", []byte{255, cmdDO, optComPort, 'z'},
			[]decoded{{Kind: evOption, Verb: cmdDO, Opt: optComPort}, {Kind: evData, Data: "z"}}},
		{"subnegotiation with an escaped IAC",
			[]byte{255, cmdSB, optComPort, 101, 0, 0, 255, 255, 255, cmdSE, 'k'},
			[]decoded{{Kind: evSubneg, Opt: optComPort, Sub: "\x65\x00\x00\xff"}, {Kind: evData, Data: "k"}}},
		{"NOP and GA are commands", []byte{255, 241, 'a', 255, 249},
			[]decoded{{Kind: evCommand, Verb: 241}, {Kind: evData, Data: "a"}, {Kind: evCommand, Verb: 249}}},
		{"subnegotiation cut by a command recovers",
			[]byte{255, cmdSB, optComPort, 107, 255, cmdWILL, optSGA, 'q'},
			[]decoded{{Kind: evOption, Verb: cmdWILL, Opt: optSGA}, {Kind: evData, Data: "q"}}},
		{"overlong subnegotiation is reported once and skipped",
			append(append([]byte{255, cmdSB, optComPort}, long...), 255, cmdSE, 'r'),
			[]decoded{{Kind: evOverlong, Opt: optComPort}, {Kind: evData, Data: "r"}}},
		{"empty subnegotiation", []byte{255, cmdSB, 9, 255, cmdSE}, []decoded{{Kind: evSubneg, Opt: 9}}},
	}
	for _, tt := range tests {
		for _, pieces := range [][]int{nil, {1}, {2, 3}} {
			t.Run(fmt.Sprintf("%s/pieces%v", tt.name, pieces), func(t *testing.T) {
				if diff := cmp.Diff(tt.want, decodeAll(tt.in, pieces)); diff != "" {
					t.Errorf("(-want +got):\n%s", diff)
				}
			})
		}
	}
}

func TestNegotiate(t *testing.T) {
	tests := []struct {
		name      string
		st        optState
		on, ok    bool
		wantSt    optState
		wantReply []byte
	}{
		{"offer accepted", optNo, true, true, optYes, []byte{cmdIAC, cmdDO, 7}},
		{"offer refused", optNo, true, false, optNo, []byte{cmdIAC, cmdDONT, 7}},
		{"our request granted: no reply", optWant, true, true, optYes, nil},
		{"our request refused", optWant, false, true, optNo, nil},
		{"repeat of a held state: no reply", optYes, true, true, optYes, nil},
		{"switched off", optYes, false, true, optNo, []byte{cmdIAC, cmdDONT, 7}},
		{"off while off: no reply", optNo, false, true, optNo, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := tt.st
			reply := negotiate(&st, tt.on, tt.ok, cmdDO, cmdDONT, 7)
			if st != tt.wantSt {
				t.Errorf("state %d, want %d", st, tt.wantSt)
			}
			if diff := cmp.Diff(tt.wantReply, reply); diff != "" {
				t.Errorf("reply (-want +got):\n%s", diff)
			}
		})
	}
}

func TestDataWritten(t *testing.T) {
	for _, tt := range []struct {
		wire []byte
		want int
	}{
		{nil, 0}, {[]byte("ab"), 2}, {[]byte{255, 255}, 1}, {[]byte{'a', 255}, 1}, {[]byte{255, 255, 'c'}, 2},
	} {
		if got := dataWritten(tt.wire); got != tt.want {
			t.Errorf("dataWritten(% x) = %d, want %d", tt.wire, got, tt.want)
		}
	}
}

func TestRing(t *testing.T) {
	r := ring{buf: make([]byte, 5)}
	if n := r.write([]byte("abc")); n != 3 {
		t.Fatalf("wrote %d", n)
	}
	p := make([]byte, 2)
	if n := r.read(p); string(p[:n]) != "ab" {
		t.Fatalf("read %q", p[:n])
	}
	if n := r.write([]byte("defgh")); n != 4 { // wraps; one byte does not fit
		t.Fatalf("wrote %d, want 4", n)
	}
	got := make([]byte, 10)
	n := r.read(got)
	if string(got[:n]) != "cdefg" {
		t.Fatalf("read %q, want cdefg", got[:n])
	}
}

// FuzzDecoder feeds arbitrary bytes to the telnet decoder. It must not
// panic, must report the same events however the input is split, never
// more data than it was given, and no subnegotiation longer than
// maxSubneg; and escaping any data then decoding it gives the data back
// with no events.
func FuzzDecoder(f *testing.F) {
	f.Add([]byte{255, 251, 3, 255, 253, 44, 'h', 'i'}, uint8(3))
	f.Add([]byte{255, 250, 44, 101, 0, 1, 194, 0, 255, 240}, uint8(1))
	f.Add([]byte{255, 250, 44, 255, 255, 255, 255}, uint8(2))
	f.Add(bytes.Repeat([]byte{255}, 9), uint8(4))
	f.Fuzz(func(t *testing.T, in []byte, piece uint8) {
		whole := decodeAll(in, nil)
		split := decodeAll(in, []int{int(piece%17) + 1})
		if diff := cmp.Diff(whole, split); diff != "" {
			t.Fatalf("split into %d-byte pieces (-whole +split):\n%s", piece%17+1, diff)
		}
		data := 0
		for _, e := range whole {
			data += len(e.Data)
			if len(e.Sub) > maxSubneg {
				t.Fatalf("subnegotiation of %d bytes", len(e.Sub))
			}
		}
		if data > len(in) {
			t.Fatalf("%d data bytes out of %d in", data, len(in))
		}

		round := decodeAll(appendEscaped(nil, in), []int{int(piece%5) + 1})
		var want []decoded
		if len(in) > 0 {
			want = []decoded{{Kind: evData, Data: string(in)}}
		}
		if diff := cmp.Diff(want, round); diff != "" {
			t.Fatalf("escaped data decoded (-want +got):\n%s", diff)
		}
	})
}
