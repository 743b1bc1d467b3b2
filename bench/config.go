package bench

import (
	"bytes"
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
// every key of ConfigKeys in order, each value on one line — then the
// Unit metadata lines of Units, as Generate writes them before its first
// result. A key cfg lacks is written empty, which clears it (benchfmt).
func WriteConfig(w io.Writer, cfg map[string]string) error { return writeConfigBlock(w, cfg, true) }

// writeConfigBlock writes cfg's lines (keys in configKeys order, values on
// one line) and, if units, the Unit metadata lines. A key cfg lacks is
// written empty, which clears it (benchfmt), so that a value from an
// earlier block — MLPerf's valid, say — never sticks to later results.
func writeConfigBlock(w io.Writer, cfg map[string]string, withUnits bool) error {
	var b strings.Builder
	for _, k := range configKeys {
		if v := cfg[k]; v != "" {
			fmt.Fprintf(&b, "%s: %s\n", k, oneLine(v))
		} else {
			fmt.Fprintf(&b, "%s:\n", k)
		}
	}
	if withUnits {
		for _, u := range units {
			fmt.Fprintf(&b, "Unit %s %s\n", u.Name, u.meta())
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// stdoutConfig tracks what this process has written to standard output.
// It is the one piece of package state, because standard output is itself
// one per process: the lines must be written once, in order with the
// testing package's own output.
var stdoutConfig = struct {
	sync.Mutex
	last  map[string]string
	units bool
	seen  map[string]bool // benchmarks that have written a result
}{seen: map[string]bool{}}

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
// extraUnits are Unit lines of a benchmark's own units (MLPerf's inf/s),
// written with every block.
func emitConfig(b *testing.B, w io.Writer, cfg map[string]string, extraUnits string) {
	b.Helper()
	block := func(units bool) []byte {
		var buf bytes.Buffer
		writeConfigBlock(&buf, cfg, units) // a bytes.Buffer does not fail
		buf.WriteString(extraUnits)
		return buf.Bytes()
	}
	if w != nil {
		if _, err := w.Write(block(true)); err != nil {
			b.Fatalf("bench: write configuration lines: %v", err)
		}
		return
	}
	c := &stdoutConfig
	c.Lock()
	defer c.Unlock()
	repeat := c.seen[b.Name()]
	c.seen[b.Name()] = true
	if maps.Equal(c.last, cfg) && c.units {
		return
	}
	if repeat {
		b.Fatalf("bench: %s ran before on %s and now on %s (or its validity changed): its results would mix in one benchmark; pin the board (hwtest constraints) or run one board per go test invocation",
			b.Name(), describe(c.last), describe(cfg))
	}
	if _, err := os.Stdout.Write(block(!c.units)); err != nil {
		b.Fatalf("bench: write configuration lines: %v", err)
	}
	c.last, c.units = maps.Clone(cfg), true
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
