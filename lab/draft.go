package lab

import (
	"bytes"
	"fmt"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/tinyprof/tinyprof/serialport"
)

// DraftInventory returns a first inventory for the boards attached to this
// host, as listed by serialport.Detect, for a person to check and complete:
// `tiny-profiler detect-devices --write-inventory FILE`.
//
// A port with a USB serial number becomes an entry with that id and no
// port, so the port is found again after a replug. The platform is the
// first one the USB ids suggest, with the others in a comment; where
// nothing is suggested it is left empty, which LoadInventory reports until
// someone fills it in. A port without a serial number is pinned by path,
// with a comment saying so. Non-USB ports (on-board UARTs) are skipped.
func DraftInventory(ports []serialport.Info) []byte {
	var list []*yaml.Node
	seen := map[string]bool{}
	for _, p := range ports {
		if !p.USB {
			continue
		}
		id, pinned := p.SerialNumber, false
		if id == "" || seen[id] {
			id, pinned = strings.TrimPrefix(p.Path, "/dev/"), true
		}
		seen[id] = true
		m := &yaml.Node{Kind: yaml.MappingNode}
		add := func(k, v, comment string) {
			val := &yaml.Node{Kind: yaml.ScalarNode, Value: v, LineComment: comment}
			if v == "" || looksNonString(v) {
				val.Style = yaml.DoubleQuotedStyle
			}
			m.Content = append(m.Content, &yaml.Node{Kind: yaml.ScalarNode, Value: k}, val)
		}
		add("id", id, "")
		switch len(p.Platforms) {
		case 0:
			add("platform", "", "TODO: set the platform; `tiny-profiler platforms` lists them")
		case 1:
			add("platform", p.Platforms[0], "")
		default:
			add("platform", p.Platforms[0], "or "+strings.Join(p.Platforms[1:], ", ")+": check")
		}
		if pinned {
			add("port", p.Path, "no unique USB serial number: pinned by path, which may move")
		}
		var what []string
		for _, s := range []string{p.Manufacturer, p.Product, p.Bridge} {
			if s != "" && !containsFold(what, s) {
				what = append(what, s)
			}
		}
		notes := fmt.Sprintf("%s:%s at %s", p.VID, p.PID, p.Path)
		if len(what) > 0 {
			notes = strings.Join(what, ", ") + "; " + notes
		}
		add("notes", notes, "")
		list = append(list, m)
	}
	boards := &yaml.Node{Kind: yaml.SequenceNode, Content: list}
	if len(list) == 0 {
		boards = &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!null", Value: "",
			LineComment: "no USB serial boards found: plug one in and run detect-devices again"}
	}
	doc := &yaml.Node{Kind: yaml.DocumentNode, HeadComment: "tinyprof lab inventory, drafted by `tiny-profiler detect-devices`.\n" +
		"Check each platform, add features (psram, power-meter) and notes, then run\n" +
		"`tiny-profiler inventory check FILE`. Fields: id, platform, port, baud, features,\n" +
		"protocol, firmware, state (good, maintenance, retired), sim, notes.",
		Content: []*yaml.Node{{Kind: yaml.MappingNode, Content: []*yaml.Node{
			{Kind: yaml.ScalarNode, Value: "boards"}, boards}}}}
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(doc); err != nil {
		panic(fmt.Sprintf("hwtest: encoding a built YAML tree: %v", err)) // cannot happen: the tree is well formed
	}
	enc.Close()
	return buf.Bytes()
}

// looksNonString reports whether YAML would read v as something other than
// a string (a number, a boolean, null), so it must be quoted.
func looksNonString(v string) bool {
	var n yaml.Node
	if err := yaml.Unmarshal([]byte(v), &n); err != nil || len(n.Content) == 0 {
		return true
	}
	return n.Content[0].Tag != "!!str"
}

func containsFold(list []string, s string) bool {
	for _, x := range list {
		if strings.EqualFold(x, s) {
			return true
		}
	}
	return false
}
