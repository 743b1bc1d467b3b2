package lab

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/tinyprof/tinyprof/internal/limitfile"
	"github.com/tinyprof/tinyprof/platform"
)

// State is the lab's standing verdict on a board, kept in the inventory by
// people. Automatic health verdicts live in the lease directory instead
// (see Status), so that a test run never rewrites the inventory.
type State string

// The inventory states. Only good boards are leased.
const (
	Good        State = "good"
	Maintenance State = "maintenance" // temporarily out: being reflashed, rewired
	Retired     State = "retired"     // out for good; kept for the record
)

// The protocols an inventory entry may name.
const (
	// ProtocolTinyprof is the tinyprof agent's framed protocol (package
	// device): the default.
	ProtocolTinyprof = "tinyprof"
	// ProtocolEEMBC is the EEMBC EnergyRunner serial protocol of MLPerf
	// Tiny's reference firmware (package device/eembc).
	ProtocolEEMBC = "eembc"
)

// Entry is one board in the inventory.
type Entry struct {
	// ID is the board's identity: its USB serial number for a real board
	// (paths such as /dev/ttyUSB0 move after a flash or a replug; the serial
	// number does not), any unique name for a simulated one.
	ID string `yaml:"id" json:"id"`
	// Platform is the catalogue key, e.g. "esp32s3" (see platform.Names).
	Platform string `yaml:"platform" json:"platform"`
	// Port pins the serial port. Default: resolved from ID at lease time.
	Port string `yaml:"port,omitempty" json:"port,omitempty"`
	// Baud is the line rate. Default 115200.
	Baud int `yaml:"baud,omitempty" json:"baud,omitempty"`
	// Features are what the board offers beyond its platform, e.g. "psram",
	// "power-meter"; Request.Features (hwtest.Feature) match against them.
	Features []string `yaml:"features,flow,omitempty" json:"features,omitempty"`
	// Protocol is the wire protocol the board's firmware speaks:
	// ProtocolTinyprof (the default) or ProtocolEEMBC, an MLPerf Tiny
	// board running the EEMBC EnergyRunner firmware. A Request names the
	// protocol it wants: hwtest.Lease serves only the first kind,
	// hwtest.LeaseEEMBC only the second.
	Protocol string `yaml:"protocol,omitempty" json:"protocol,omitempty"`
	// Firmware, if set, is the firmware version the health check expects
	// the board to report (a prefix match: "tinyprof-agent/0.3" accepts
	// "tinyprof-agent/0.3.1"). A simulated board reports it.
	Firmware string `yaml:"firmware,omitempty" json:"firmware,omitempty"`
	// State is the lab's verdict. Default Good.
	State State `yaml:"state,omitempty" json:"state,omitempty"`
	// Sim marks a simulated board: the default (untagged) build serves it
	// from package sim, so that leasing, health and quarantine run the same
	// code in CI as in the lab. The hardware build ignores it.
	Sim bool `yaml:"sim,omitempty" json:"sim,omitempty"`
	// Emulate names the QEMU machine (e.g. "mps2-an386"; see
	// platform.Emulated) that serves an emulated board: tinyprof's own
	// firmware on an emulated Cortex-M (package device/emu). Platform
	// defaults to it and, if given, must equal it. The default build serves
	// such entries when qemu-system-arm and arm-none-eabi-gcc are installed;
	// the hardware build ignores them.
	Emulate string `yaml:"emulate,omitempty" json:"emulate,omitempty"`
	// Meter, if set, is the power meter wired to the board (see
	// MeterBinding and OpenMeter). A simulated board gets a simulated
	// meter of that kind, wired to it.
	Meter *MeterBinding `yaml:"meter,omitempty" json:"meter,omitempty"`
	// Notes is free text for people.
	Notes string `yaml:"notes,omitempty" json:"notes,omitempty"`
	// Host is the lab host the board is plugged into, for a board an
	// exporter published in a lab of many machines (its Port is then an
	// rfc2217:// address there); "" for a board of this host.
	Host string `yaml:"-" json:"host,omitempty"`

	// Line is the line of the entry in its file, 0 if it was not read from one.
	Line int `yaml:"-" json:"line,omitempty"`
}

// HasFeature reports whether the entry lists feature f.
func (e Entry) HasFeature(f string) bool { return slices.Contains(e.Features, f) }

// Inventory is the lab's list of boards, read from a YAML file:
//
//	boards:
//	  - id: "3C84F00D1234"      # USB serial number
//	    platform: esp32s3
//	    features: [psram, power-meter]
//	    notes: bench 2, left
//	  - id: sim-esp32s3-a
//	    platform: esp32s3
//	    sim: true
type Inventory struct {
	// Path is the file the inventory was read from, "" if built in memory.
	Path string `json:"path"`
	// Boards are the entries in file order.
	Boards []Entry `json:"boards"`
}

// Lookup returns the entry with the given id.
func (inv *Inventory) Lookup(id string) (Entry, bool) {
	for _, e := range inv.Boards {
		if e.ID == id {
			return e, true
		}
	}
	return Entry{}, false
}

// PositionError is a problem at a place in an inventory file. Its message
// reads "file:line: problem", as compilers print, so editors can jump to it.
type PositionError struct {
	File string
	Line int // 1-based; 0 if unknown
	Msg  string
}

func (e *PositionError) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Msg)
	}
	return fmt.Sprintf("%s: %s", e.File, e.Msg)
}

// ErrInventory matches, with errors.Is, every error LoadInventory and
// ParseInventory return for a file that exists but is wrong.
var ErrInventory = errors.New("invalid inventory")

func (e *PositionError) Is(target error) bool { return target == ErrInventory }

// maxInventory bounds an inventory file: a line per board field, so a
// lab of thousands of boards is well within it.
const maxInventory = 4 << 20

// LoadInventory reads and validates the inventory at path. A file that is
// wrong yields every problem found, joined, each a *PositionError naming
// the file and line; a file that cannot be read yields the os error.
func LoadInventory(path string) (*Inventory, error) {
	data, err := limitfile.ReadFile(path, "the inventory", maxInventory)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("inventory %s does not exist: draft one with `tiny-profiler detect-devices --write-inventory %s`: %w", path, path, err)
		}
		return nil, fmt.Errorf("read inventory: %w", err)
	}
	return ParseInventory(path, data)
}

// ParseInventory validates data as an inventory; name is used in errors.
func ParseInventory(name string, data []byte) (*Inventory, error) {
	p := parser{file: name}
	inv := &Inventory{Path: name}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, p.yamlError(err)
	}
	if len(doc.Content) == 0 {
		return nil, p.at(0, "empty file: expected a mapping with a `boards:` list")
	}
	root := doc.Content[0]
	if root.Kind != yaml.MappingNode {
		return nil, p.at(root.Line, "expected a mapping with a `boards:` list, found %s", kindName(root))
	}
	var boards *yaml.Node
	for i := 0; i+1 < len(root.Content); i += 2 {
		k, v := root.Content[i], root.Content[i+1]
		switch k.Value {
		case "boards":
			boards = v
		default:
			p.errorf(k.Line, "unknown key %q (the top level has only `boards:`)", k.Value)
		}
	}
	switch {
	case boards == nil:
		p.errorf(root.Line, "missing `boards:` list")
	case boards.Kind == yaml.ScalarNode && boards.Tag == "!!null":
		// "boards:" with nothing under it: an empty lab is valid.
	case boards.Kind != yaml.SequenceNode:
		p.errorf(boards.Line, "`boards:` must be a list, found %s", kindName(boards))
	default:
		seen := map[string]int{}
		for _, n := range boards.Content {
			e, ok := p.entry(n)
			if !ok {
				continue
			}
			if first, dup := seen[e.ID]; dup {
				p.errorf(e.Line, "duplicate id %q (first at line %d)", e.ID, first)
				continue
			}
			seen[e.ID] = e.Line
			inv.Boards = append(inv.Boards, e)
		}
	}
	if len(p.errs) > 0 {
		return nil, errors.Join(p.errs...)
	}
	return inv, nil
}

type parser struct {
	file string
	errs []error
}

func (p *parser) at(line int, format string, args ...any) error {
	return &PositionError{File: p.file, Line: line, Msg: fmt.Sprintf(format, args...)}
}

func (p *parser) errorf(line int, format string, args ...any) {
	p.errs = append(p.errs, p.at(line, format, args...))
}

// yamlLine finds "line N" in yaml.v3's syntax errors ("yaml: line 3: ...").
var yamlLine = regexp.MustCompile(`^(?:yaml: )?line (\d+): (.*)$`)

func (p *parser) yamlError(err error) error {
	var errs []error
	msgs := []string{err.Error()}
	var te *yaml.TypeError
	if errors.As(err, &te) {
		msgs = te.Errors
	}
	for _, m := range msgs {
		m = strings.TrimSpace(m)
		if sm := yamlLine.FindStringSubmatch(m); sm != nil {
			n, _ := strconv.Atoi(sm[1])
			errs = append(errs, p.at(n, "bad YAML: %s", sm[2]))
			continue
		}
		errs = append(errs, p.at(0, "bad YAML: %s", strings.TrimPrefix(m, "yaml: ")))
	}
	return errors.Join(errs...)
}

var knownKeys = []string{"id", "platform", "port", "baud", "features", "protocol", "firmware", "state", "sim", "emulate", "meter", "notes"}

// entry decodes and checks one board; it records problems and reports
// whether the entry is usable.
func (p *parser) entry(n *yaml.Node) (Entry, bool) {
	e := Entry{Line: n.Line}
	if n.Kind != yaml.MappingNode {
		p.errorf(n.Line, "a board must be a mapping with at least id and platform, found %s", kindName(n))
		return e, false
	}
	before := len(p.errs)
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if !slices.Contains(knownKeys, k.Value) {
			p.errorf(k.Line, "unknown key %q (known: %s)", k.Value, strings.Join(knownKeys, ", "))
			continue
		}
		// Decode the single key into the struct, so yaml.v3 reports type
		// errors against this value's line.
		one := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map", Content: []*yaml.Node{k, v}}
		if err := one.Decode(&e); err != nil {
			p.errorf(v.Line, "%s: %s", k.Value, typeErrorText(err))
		}
	}
	e.Line = n.Line
	switch {
	case e.ID == "":
		p.errorf(n.Line, "board has no id (use the USB serial number; `tiny-profiler detect-devices` lists them)")
	case strings.TrimSpace(e.ID) != e.ID:
		p.errorf(n.Line, "id %q has leading or trailing spaces", e.ID)
	}
	if e.Emulate != "" {
		p.emulated(n, &e)
	}
	if e.Platform == "" {
		p.errorf(n.Line, "board %q has no platform (known platforms: %s)", e.ID, strings.Join(platform.Names(), ", "))
	} else if pl, err := platform.Lookup(e.Platform); err != nil {
		p.errorf(lineOf(n, "platform"), "board %q: %v", e.ID, err)
	} else {
		e.Platform = pl.Name
	}
	switch e.State {
	case "":
		e.State = Good
	case Good, Maintenance, Retired:
	default:
		p.errorf(lineOf(n, "state"), "board %q: unknown state %q (use good, maintenance or retired)", e.ID, e.State)
	}
	switch e.Protocol {
	case "":
		e.Protocol = ProtocolTinyprof
	case ProtocolTinyprof, ProtocolEEMBC:
	default:
		p.errorf(lineOf(n, "protocol"), "board %q: unknown protocol %q (use tinyprof, for the tinyprof agent, or eembc, for MLPerf Tiny's EnergyRunner firmware)", e.ID, e.Protocol)
	}
	if e.Protocol == ProtocolEEMBC && e.Meter != nil {
		p.errorf(lineOf(n, "meter"), "board %q: hwtest wires no meter to an eembc board (EEMBCBoard has no Meter): remove `meter:`", e.ID)
	}
	if e.Baud < 0 {
		p.errorf(lineOf(n, "baud"), "board %q: baud must be positive", e.ID)
	}
	if e.Emulate != "" && e.Port != "" {
		p.errorf(lineOf(n, "port"), "board %q: an emulated board has no port until it is started; remove `port:` or `emulate:`", e.ID)
	}
	if e.Sim && e.Port != "" {
		p.errorf(lineOf(n, "port"), "board %q: a simulated board has no port; remove `port:` or `sim: true`", e.ID)
	}
	for _, f := range e.Features {
		if f == "" || strings.ContainsAny(f, " \t,") {
			p.errorf(lineOf(n, "features"), "board %q: feature %q must be one word, e.g. power-meter", e.ID, f)
		}
	}
	if e.Meter != nil {
		p.meter(e, valueOf(n, "meter"))
	}
	return e, len(p.errs) == before
}

// valueOf returns key's value node in mapping n, or n.
func valueOf(n *yaml.Node, key string) *yaml.Node {
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return n.Content[i+1]
		}
	}
	return n
}

// lineOf returns the line of key's value in mapping n, or n's line.
func lineOf(n *yaml.Node, key string) int {
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return n.Content[i+1].Line
		}
	}
	return n.Line
}

func typeErrorText(err error) string {
	var te *yaml.TypeError
	if errors.As(err, &te) && len(te.Errors) > 0 {
		m := te.Errors[0]
		if sm := yamlLine.FindStringSubmatch(m); sm != nil {
			return sm[2]
		}
		return m
	}
	return err.Error()
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.SequenceNode:
		return "a list"
	case yaml.MappingNode:
		return "a mapping"
	case yaml.ScalarNode:
		return fmt.Sprintf("%q", n.Value)
	case yaml.AliasNode:
		return "an alias"
	}
	return "nothing"
}

// Marshal returns the inventory as YAML that ParseInventory reads back.
func (inv *Inventory) Marshal() ([]byte, error) {
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(struct {
		Boards []Entry `yaml:"boards"`
	}{inv.Boards}); err != nil {
		return nil, err
	}
	if err := enc.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
