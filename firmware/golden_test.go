package firmware

import (
	"bufio"
	"encoding/hex"
	"flag"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/stretchr/testify/require"
)

var update = flag.Bool("update", false, "rewrite testdata/golden.txt from the examples")

// goldenMessages is one example of every message. Their wire bytes, in
// testdata/golden.txt, are what any implementation (the C agent too) must
// produce and accept.
func goldenMessages() []struct {
	name string
	seq  uint16
	msg  Message
} {
	sha := [32]byte{}
	for i := range sha {
		sha[i] = byte(i * 7)
	}
	return []struct {
		name string
		seq  uint16
		msg  Message
	}{
		{"hello", 1, &Hello{ProtocolVersion: 1, MaxPayload: 1024}},
		{"info", 1, &Info{ProtocolVersion: 1, Firmware: "tinyprof-agent/0.1.0", Platform: "esp32s3", Chip: "ESP32-S3 rev0.2",
			CPUMHz: 240, SRAM: 512 * 1024, PSRAM: 8 << 20, Flash: 16 << 20, MaxPayload: 1024, BootID: 0xC0FFEE01, Capabilities: CapCancel | CapPSRAM}},
		{"info_boot", 0, &Info{ProtocolVersion: 1, Firmware: "fw", Platform: "rp2040", Chip: "RP2040", CPUMHz: 133, SRAM: 264 * 1024, Flash: 2 << 20, MaxPayload: 256, BootID: 7}},
		{"ping", 2, &Ping{Data: []byte{0x00, 0x01, 0xFF, 'h', 'i'}}},
		{"ping_empty", 3, &Ping{}},
		{"pong", 2, &Pong{Data: []byte{0x00, 0x01, 0xFF, 'h', 'i'}}},
		{"reset", 4, &Reset{}},
		{"reset_ack", 4, &ResetAck{}},
		{"model_begin", 5, &ModelBegin{Size: 1 << 20, SHA256: sha, ChunkSize: 1000, Window: 4, Name: "stories260k.bin"}},
		{"model_chunk", 6, &ModelChunk{Offset: 2000, Data: []byte{0, 0, 0, 1, 2, 3}}},
		{"model_ack", 6, &ModelAck{Offset: 3000, ChunkSize: 1000, Window: 4}},
		{"model_end", 7, &ModelEnd{}},
		{"model_done", 7, &ModelDone{SHA256: sha, Region: RegionPSRAM, Bytes: 1 << 20, Parameters: 260000}},
		{"generate", 8, &Generate{MaxTokens: 64, Seed: 42, Temperature: 800, TopP: 900, TopK: 40, Prompt: "Once upon a time"}},
		{"tokens", 8, &Tokens{Index: 16, Tokens: []Token{{ID: 1, TimeUS: 1_000_000}, {ID: 300, TimeUS: 1_052_631}, {ID: 511, TimeUS: 1_105_262}}}},
		{"tokens_empty", 8, &Tokens{Index: 0}},
		{"gen_done", 8, &GenDone{Tokens: 64, PromptTokens: 5, StartUS: 999_000, PrefillUS: 260_000, TTFTUS: 312_631, DecodeUS: 3_315_753, PeakHeap: 180_000, PeakPSRAM: 1_700_000, Stop: StopLength}},
		{"get_metrics", 9, &GetMetrics{}},
		{"metrics", 9, &Metrics{UptimeUS: 5_000_000, FreeHeap: 300_000, MinFreeHeap: 250_000, LargestFree: 200_000, PSRAMFree: 6 << 20, PSRAMMinFree: 5 << 20, CPULoad: 975, HasPower: true, PowerUW: 350_000, VoltageMV: 3300, CurrentUA: 106_060}},
		{"cancel", 10, &Cancel{}},
		{"log", 0, &Log{Level: LevelInfo, TimeUS: 123_456, Text: "model loaded into PSRAM"}},
		{"error", 11, &Error{Code: CodeModelTooLarge, Request: TypeModelBegin, Text: "model 9 MiB exceeds 8 MiB PSRAM"}},
	}
}

func TestGoldenVectors(t *testing.T) {
	var b strings.Builder
	b.WriteString("# tinyprof protocol golden vectors: name seq hex-of-wire-bytes (delimiters included).\n")
	b.WriteString("# Regenerate with: go test ./firmware -run TestGoldenVectors -update\n")
	for _, g := range goldenMessages() {
		fmt.Fprintf(&b, "%s %d %s\n", g.name, g.seq, hex.EncodeToString(Encode(g.seq, g.msg)))
	}
	const path = "testdata/golden.txt"
	if *update {
		require.NoError(t, os.WriteFile(path, []byte(b.String()), 0o644))
	}
	want, err := os.ReadFile(path)
	require.NoError(t, err)
	if diff := cmp.Diff(string(want), b.String()); diff != "" {
		t.Fatalf("wire bytes changed (-golden +now); if intended, run with -update:\n%s", diff)
	}
}

// TestGoldenDecode decodes every golden vector back to the message it came from.
func TestGoldenDecode(t *testing.T) {
	f, err := os.Open("testdata/golden.txt")
	require.NoError(t, err)
	defer f.Close()
	byName := map[string]Message{}
	for _, g := range goldenMessages() {
		byName[g.name] = g.msg
	}
	sc := bufio.NewScanner(f)
	n := 0
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "#") || line == "" {
			continue
		}
		var name, hx string
		var seq uint16
		_, err := fmt.Sscanf(line, "%s %d %s", &name, &seq, &hx)
		require.NoError(t, err, line)
		wire, err := hex.DecodeString(hx)
		require.NoError(t, err)
		var got []Event
		NewDecoder(MaxPayloadLimit).Feed(wire, func(e Event) { got = append(got, e) })
		require.Len(t, got, 1, name)
		require.Equal(t, EventFrame, got[0].Kind, "%s: %v", name, got[0].Err)
		require.Equal(t, seq, got[0].Frame.Seq)
		msg, err := Decode(got[0].Frame)
		require.NoError(t, err, name)
		want := byName[name]
		if diff := cmp.Diff(normalize(want), normalize(msg)); diff != "" {
			t.Errorf("%s (-want +got):\n%s", name, diff)
		}
		n++
	}
	require.Equal(t, len(byName), n, "every example has a golden vector")
}

// normalize maps nil and empty byte slices together for comparison.
func normalize(m Message) Message {
	switch v := m.(type) {
	case *Ping:
		if len(v.Data) == 0 {
			return &Ping{}
		}
	case *Pong:
		if len(v.Data) == 0 {
			return &Pong{}
		}
	}
	return m
}
