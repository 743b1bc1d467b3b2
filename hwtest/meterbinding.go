package hwtest

import (
	"slices"
	"strings"

	"gopkg.in/yaml.v3"
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
	// Kind is "ppk2" or "lpm01a".
	Kind string `yaml:"kind"`
	// Port is the meter's serial port; ID its USB serial number, looked up
	// when the meter is opened (ports move after a replug). A real board's
	// meter needs one of them; a simulated board's meter takes neither.
	Port string `yaml:"port,omitempty"`
	ID   string `yaml:"id,omitempty"`
	// LogicBit is the PPK2 logic input the board's GPIO is wired to, 0–7.
	// Default 0.
	LogicBit uint `yaml:"logic-bit,omitempty"`
	// Supply is the voltage the meter sources to the board, in volts.
	// Default 3.3 (for a simulated board, its power model's supply).
	Supply float64 `yaml:"supply,omitempty"`
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
	switch m.Kind {
	case "ppk2", "lpm01a":
	case "":
		p.errorf(n.Line, "board %q: meter has no kind (ppk2 or lpm01a)", e.ID)
	default:
		p.errorf(at("kind"), "board %q: unknown meter kind %q (ppk2 or lpm01a)", e.ID, m.Kind)
	}
	switch {
	case e.Sim && (m.Port != "" || m.ID != ""):
		p.errorf(n.Line, "board %q: a simulated board's meter is simulated too: remove the meter's port and id", e.ID)
	case !e.Sim && m.Port == "" && m.ID == "":
		p.errorf(n.Line, "board %q: the meter needs a port or an id (its USB serial number; `tiny-profiler detect-devices` lists them)", e.ID)
	case m.Port != "" && m.ID != "":
		p.errorf(n.Line, "board %q: give the meter a port or an id, not both", e.ID)
	}
	if m.LogicBit > 7 {
		p.errorf(at("logic-bit"), "board %q: meter logic-bit %d: the PPK2 has inputs D0–D7", e.ID, m.LogicBit)
	}
	if m.Kind == "lpm01a" && m.LogicBit != 0 {
		p.errorf(at("logic-bit"), "board %q: the LPM01A has no logic inputs: wire the board's GPIO to its event input D7 and remove logic-bit", e.ID)
	}
	switch {
	case m.Supply == 0:
	case m.Kind == "ppk2" && (m.Supply < 0.8 || m.Supply > 5):
		p.errorf(at("supply"), "board %q: meter supply %gV outside the PPK2's 0.8–5V", e.ID, m.Supply)
	case m.Kind == "lpm01a" && (m.Supply < 1.8 || m.Supply > 3.3):
		p.errorf(at("supply"), "board %q: meter supply %gV outside the LPM01A's 1.8–3.3V", e.ID, m.Supply)
	}
}
