package bench

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
)

// configKeys are the configuration lines every benchmark output carries,
// in this order. All are written whenever one changes, because a
// configuration line holds for every later result until overwritten.
var configKeys = []string{"board", "platform", "chip", "firmware", "model", "model-sha256", "quant",
	"weights-in", "prompt", "simulated", "emulated", "power-source", "valid"}

// ConfigKeys returns the configuration keys every benchmark output
// carries, in the order they are written.
func ConfigKeys() []string { return slices.Clone(configKeys) }

// BoardID returns the name of dev's board in configuration lines. It must
// be stable across runs, or benchstat puts two runs on one board in
// separate tables: the board's own id when dev has one (a method
// BoardID() string, such as a leased hwtest.Board's inventory id),
// "sim-PLATFORM" for a simulated board and "emu-PLATFORM" for an emulated
// one (their pseudo-terminals change every run), else dev.Name(), its
// port. dev must have answered Hello.
func BoardID(dev Device) string {
	if b, ok := dev.(interface{ BoardID() string }); ok {
		if id := b.BoardID(); id != "" {
			return id
		}
	}
	info := dev.Info()
	if info.Capabilities.Simulated() {
		return "sim-" + info.Platform
	}
	if Emulated(info) {
		return "emu-" + info.Platform
	}
	return dev.Name()
}

// WriteConfig writes cfg as the configuration lines of a benchmark file —
// every key of ConfigKeys that cfg gives a value, in order, each value on
// one line — then the Unit metadata lines of the units cfg's results can
// carry (see unitsFor), as Generate writes them before its first result.
// A key without a value is left out: at the start of a file there is
// nothing for an empty line to clear.
func WriteConfig(w io.Writer, cfg map[string]string) error {
	_, err := io.WriteString(w, configBlock(cfg, nil, map[string]bool{}))
	return err
}

// configBlock returns cfg's configuration lines, keys in configKeys
// order, values on one line. A key cfg gives no value is written empty
// only if prev gave it one, which clears it (benchfmt), so that a value
// from an earlier block — MLPerf's valid, say — never sticks to later
// results; otherwise it is left out, as an empty line would say nothing.
// Then come the Unit lines of unitsFor(cfg) that declared lacks, which
// configBlock adds to it; declared nil writes none.
func configBlock(cfg, prev map[string]string, declared map[string]bool) string {
	var b strings.Builder
	for _, k := range configKeys {
		switch {
		case cfg[k] != "":
			fmt.Fprintf(&b, "%s: %s\n", k, oneLine(cfg[k]))
		case prev[k] != "":
			fmt.Fprintf(&b, "%s:\n", k)
		}
	}
	if declared != nil {
		for _, u := range unitsFor(cfg) {
			if !declared[u.Name] {
				fmt.Fprintf(&b, "Unit %s %s\n", u.Name, u.meta())
				declared[u.Name] = true
			}
		}
	}
	return b.String()
}

// unitsFor returns the units the results under cfg can carry: the energy
// units (W, J/tok) only with a power source, the instruction counts only
// on an emulated board, whose figures those are; the rest always.
func unitsFor(cfg map[string]string) []Unit {
	power := cfg["power-source"] != "" && cfg["power-source"] != "none"
	emulated := cfg["emulated"] != "" && cfg["emulated"] != "false"
	var out []Unit
	for _, u := range units {
		switch u.Name {
		case "W", "J/tok":
			if !power {
				continue
			}
		case "instr/tok", "prefill-instr/tok":
			if !emulated {
				continue
			}
		}
		out = append(out, u)
	}
	return out
}

// unknownPrev stands for the lines before a block written to a ConfigTo
// writer: any key may have been set, but valid, which only an MLPerf
// block sets, is not cleared, so that Generate writes no empty valid line.
var unknownPrev = func() map[string]string {
	m := map[string]string{}
	for _, k := range configKeys {
		if k != "valid" {
			m[k] = "?"
		}
	}
	return m
}()

// stdoutConfig tracks what this process has written to standard output.
// It is the one piece of package state, because standard output is itself
// one per process: the lines must be written once, in order with the
// testing package's own output.
var stdoutConfig = struct {
	sync.Mutex
	last     map[string]string
	declared map[string]bool // units whose Unit line is written
	seen     map[string]bool // benchmarks that have written a result
}{declared: map[string]bool{}, seen: map[string]bool{}}

// emitConfig writes cfg as configuration lines before b's result.
//
// The testing package runs a benchmark function once (with b.Loop, all of
// it) before it prints the benchmark's name, so lines written from the
// first run of each benchmark precede its result line, where the Go
// benchmark format wants them. Repeated runs (-count, -cpu) start after the
// name is printed, mid-line: there nothing may be written, and a board or
// model that changed between runs of one benchmark fails it rather than
// mixing results silently.
//
// On standard output, a block clears the keys of the one before that it
// lacks, and declares each unit once. Of what went to a writer given with
// ConfigTo nothing is known, so a block there clears every key it lacks
// but valid, which only MLPerf's blocks set, and declares its units
// again: give MLPerf and Generate separate writers, or a Generate result
// after an MLPerf block in one writer keeps its valid line.
//
// extraUnits are Unit lines of a benchmark's own units (MLPerf's inf/s),
// written with every block.
func emitConfig(b *testing.B, w io.Writer, cfg map[string]string, extraUnits string) {
	b.Helper()
	if w != nil {
		if _, err := io.WriteString(w, configBlock(cfg, unknownPrev, map[string]bool{})+extraUnits); err != nil {
			b.Fatalf("bench: write configuration lines: %v", err)
		}
		return
	}
	c := &stdoutConfig
	c.Lock()
	defer c.Unlock()
	repeat := c.seen[b.Name()]
	c.seen[b.Name()] = true
	undeclared := slices.ContainsFunc(unitsFor(cfg), func(u Unit) bool { return !c.declared[u.Name] })
	if maps.Equal(c.last, cfg) && !undeclared {
		return
	}
	if repeat {
		b.Fatalf("bench: %s ran before on %s and now on %s (or its validity changed): its results would mix in one benchmark; pin the board (hwtest constraints) or run one board per go test invocation",
			b.Name(), describe(c.last), describe(cfg))
	}
	declared := maps.Clone(c.declared)
	if _, err := io.WriteString(os.Stdout, configBlock(cfg, c.last, declared)+extraUnits); err != nil {
		b.Fatalf("bench: write configuration lines: %v", err)
	}
	c.last, c.declared = maps.Clone(cfg), declared
}

func describe(cfg map[string]string) string {
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(cfg)) {
		if k == "board" || k == "firmware" || k == "model-sha256" {
			parts = append(parts, k+" "+cfg[k])
		}
	}
	return strings.Join(parts, ", ")
}

func oneLine(s string) string { return strings.NewReplacer("\n", " ", "\r", " ").Replace(s) }

// ModelSHA256 returns the hex SHA-256 of b, the model-sha256
// configuration line of a model.
func ModelSHA256(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}
