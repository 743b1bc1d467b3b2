package lab

import (
	"slices"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/tinyprof/tinyprof/power"
	"github.com/tinyprof/tinyprof/power/meters"
)

// MeterBinding is the power meter wired to a board, in its inventory
// entry:
//
//	meter: {kind: ppk2, port: /dev/ttyACM1, logic-bit: 0}
//	meter: {kind: lpm01a, id: "0672FF485550755187034646"}
//
// The board's GPIO that marks generations goes to the PPK2's logic input
// D<logic-bit>, or to the LPM01A's event input D7.
type MeterBinding struct {
	// Kind is a kind of the meter registry (package power/meters): "ppk2"
	// or "lpm01a".
	Kind string `yaml:"kind" json:"kind"`
	// Port is the meter's serial port; ID its USB serial number, looked up
	// when the meter is opened (ports move after a replug). A real board's
	// meter needs one of them; a simulated board's meter takes neither.
	Port string `yaml:"port,omitempty" json:"port,omitempty"`
	ID   string `yaml:"id,omitempty" json:"id,omitempty"`
	// LogicBit is the PPK2 logic input the board's GPIO is wired to, 0–7.
	// Default 0.
	LogicBit uint `yaml:"logic-bit,omitempty" json:"logic_bit,omitempty"`
	// Supply is the voltage the meter sources to the board, in volts.
	// Default 3.3 (for a simulated board, its power model's supply).
	Supply float64 `yaml:"supply,omitempty" json:"supply,omitempty"`
}

var meterKeys = []string{"kind", "port", "id", "logic-bit", "supply"}

// meter checks e's meter binding, found at node n.
func (p *parser) meter(e Entry, n *yaml.Node) {
	m := e.Meter
	at := func(key string) int { return lineOf(n, key) }
	if n.Kind == yaml.MappingNode {
		for i := 0; i+1 < len(n.Content); i += 2 {
			if k := n.Content[i]; !slices.Contains(meterKeys, k.Value) {
				p.errorf(k.Line, "board %q: meter: unknown key %q (known: %s)", e.ID, k.Value, strings.Join(meterKeys, ", "))
			}
		}
	}
	k, kerr := meters.Lookup(m.Kind)
	switch {
	case m.Kind == "":
		p.errorf(n.Line, "board %q: meter has no kind (%s)", e.ID, meters.Choices())
	case kerr != nil:
		p.errorf(at("kind"), "board %q: unknown meter kind %q (%s)", e.ID, m.Kind, meters.Choices())
	}
	switch {
	case e.Sim && (m.Port != "" || m.ID != ""):
		p.errorf(n.Line, "board %q: a simulated board's meter is simulated too: remove the meter's port and id", e.ID)
	case !e.Sim && m.Port == "" && m.ID == "":
		p.errorf(n.Line, "board %q: the meter needs a port or an id (its USB serial number; `tiny-profiler detect-devices` lists them)", e.ID)
	case m.Port != "" && m.ID != "":
		p.errorf(n.Line, "board %q: give the meter a port or an id, not both", e.ID)
	}
	if kerr != nil {
		return
	}
	if err := k.CheckLogicBit(m.LogicBit); err != nil {
		p.errorf(at("logic-bit"), "board %q: meter %v", e.ID, err)
	}
	if err := k.CheckSupply(power.Voltage(m.Supply)); err != nil {
		p.errorf(at("supply"), "board %q: meter %v", e.ID, err)
	}
}
