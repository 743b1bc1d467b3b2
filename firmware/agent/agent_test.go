package agent

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/tinyprof/tinyprof/firmware"
	"github.com/tinyprof/tinyprof/firmware/conformance"
	"github.com/tinyprof/tinyprof/fixtures"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, goleak.Cleanup(func(code int) {
		removeBuilds()
		os.Exit(code)
	}))
}

// smallest is the smallest configuration size.sh measures.
var smallest = []string{"-DTP_MAX_PAYLOAD=64", "-DTP_RX_RING=64", "-DTP_TX_STAGE=16"}

// longInfo gives INFO strings that cannot all fit a 64-byte payload, the
// chip's with multi-byte UTF-8 where a cut would fall.
var longInfo = []string{
	"TINYPROF_FIRMWARE=tinyprof-agent/0.1.0+build.20261201",
	"TINYPROF_PLATFORM=esp32s3",
	"TINYPROF_CHIP=ESP32-S3 rev0.2 — 240 MHz dual-core Xtensa LX7",
}

// TestConformance runs the conformance suite against host builds of the
// agent behind a pty: the default build, the smallest configuration (whose
// INFO must shrink to fit when its strings are long), smaller buffers still
// so that chunks, PINGs and token batches all hit the limits, and a
// transmit stage larger than any frame. The "runtime" cases run the agent
// with the inference runtime instead of the stand-in generator, uploading
// a real model (and, in one, holding another from boot).
func TestConformance(t *testing.T) {
	small := []string{"-DTP_MAX_PAYLOAD=64", "-DTP_RX_RING=64", "-DTP_TX_STAGE=8", "-DTP_MODEL_WINDOW=1", "-DTP_BATCH_TOKENS=5"}
	for _, tc := range []struct {
		name    string
		flags   []string
		env     []string
		runtime bool
		boot    string // a fixture model held from boot
	}{
		{name: "default"},
		{name: "smallest", flags: smallest},
		{name: "smallest with long INFO strings", flags: smallest, env: longInfo},
		{name: "small buffers", flags: small},
		{name: "stage 1100", flags: []string{"-DTP_TX_STAGE=1100"}},
		{name: "runtime", runtime: true},
		{name: "runtime, smallest", flags: smallest, runtime: true},
		{name: "runtime, small buffers", flags: small, runtime: true},
		{name: "runtime, model held from boot", runtime: true, boot: "tiny-q8_0.gguf"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			bin, opts, env := buildHost(t, tc.flags...), conformance.Options{}, tc.env
			if tc.runtime {
				bin = buildHostRuntime(t, tc.flags...)
				b, err := os.ReadFile(fixtures.Model(t, "tiny-q4_0.gguf"))
				require.NoError(t, err)
				opts.Model, opts.ModelName = b, "tiny-q4_0.gguf"
			}
			if tc.boot != "" {
				env = append(env, bootModel(t, tc.boot)...)
			}
			p := start(t, bin, env...)
			require.NoError(t, conformance.Test(t.Context(), p.Master, opts))
			require.True(t, p.alive(), "the agent exited")
		})
	}
}

// TestGoldenVectors checks that the agent encodes every device message of
// testdata/golden.txt to the same bytes as package firmware, and that its
// receiver decodes every vector to the same frame.
func TestGoldenVectors(t *testing.T) {
	golden, err := os.ReadFile("../testdata/golden.txt")
	require.NoError(t, err)
	vectors := map[string][]byte{}
	sc := bufio.NewScanner(bytes.NewReader(golden))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) != 3 || strings.HasPrefix(f[0], "#") {
			continue
		}
		b, err := hex.DecodeString(f[2])
		require.NoError(t, err)
		vectors[f[0]] = b
	}

	// The RP2040 example in info_boot has a 256-byte limit, which INFO
	// reports from TP_MAX_PAYLOAD.
	enc, dec := runGolden(t, golden, "tinyprof-golden")
	small, _ := runGolden(t, golden, "tinyprof-golden-256", "-DTP_MAX_PAYLOAD=256")
	enc["info_boot"] = small["info_boot"]

	wantEnc, wantDec := map[string]string{}, map[string]string{}
	for name, wire := range vectors {
		var events []firmware.Event
		firmware.NewDecoder(firmware.MaxPayloadLimit).Feed(wire, func(e firmware.Event) { events = append(events, e) })
		require.Len(t, events, 1, name)
		fr := events[0].Frame
		wantDec[name] = fmt.Sprintf("%d %d %x", fr.Type, fr.Seq, fr.Payload)
		if fr.Type >= 0x80 {
			wantEnc[name] = hex.EncodeToString(wire)
		}
	}
	if diff := cmp.Diff(wantEnc, enc); diff != "" {
		t.Errorf("C encodings differ from golden.txt (-golden +agent):\n%s", diff)
	}
	if diff := cmp.Diff(wantDec, dec); diff != "" {
		t.Errorf("C decodings differ from package firmware (-firmware +agent):\n%s", diff)
	}
}

// runGolden builds and runs host/golden.c on the vectors and returns its
// encodings and decodings by vector name.
func runGolden(t *testing.T, golden []byte, name string, flags ...string) (enc, dec map[string]string) {
	t.Helper()
	bin := build(t, name, true, []string{"host/golden.c"}, flags...)
	cmd := exec.CommandContext(t.Context(), bin)
	cmd.Stdin = bytes.NewReader(golden)
	out, err := cmd.Output()
	require.NoError(t, err)
	enc, dec = map[string]string{}, map[string]string{}
	for line := range strings.Lines(string(out)) {
		f := strings.Fields(line)
		switch {
		case len(f) == 3 && f[0] == "enc":
			enc[f[1]] = f[2]
		case len(f) >= 4 && f[0] == "dec":
			dec[f[1]] = strings.Join(f[2:], " ")
			if len(f) == 4 {
				dec[f[1]] += " "
			}
		default:
			t.Errorf("%s: unexpected output %q", name, line)
		}
	}
	return enc, dec
}
