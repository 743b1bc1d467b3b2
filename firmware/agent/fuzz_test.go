package agent

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tinyprof/tinyprof/firmware"
)

// maxFuzzInput bounds one input, so that an input never fills the pty
// while the agent's answers are still being drained.
const maxFuzzInput = 8 << 10

// probeTimeout is how long a PING after an input may take. It only runs
// out when the agent is stuck.
const probeTimeout = 10 * time.Second

// FuzzAgent feeds arbitrary bytes to one host agent (built with ASan and
// UBSan where available) started for the fuzz run, and requires that it
// still answers a PING after each input. The cleanup fails the run if the
// agent printed a sanitizer report.
//
//	go test ./firmware/agent -run '^$' -fuzz FuzzAgent -fuzztime 200000x
func FuzzAgent(f *testing.F) {
	for _, seed := range fuzzSeeds(f) {
		f.Add(seed)
	}
	p := start(f, buildHost(f), "TINYPROF_TOKEN_US=0")
	pongs := drainPongs(f, p.Master)
	var n uint32
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > maxFuzzInput {
			data = data[:maxFuzzInput]
		}
		n++
		probe := fmt.Appendf(nil, "probe %d", n)
		msg := append(append(data, 0), firmware.Encode(uint16(n)|1, &firmware.Ping{Data: probe})...)
		msg = append(msg, firmware.Encode(1, &firmware.Reset{})...) // a clean state for the next input
		if err := p.Master.SetWriteDeadline(time.Now().Add(probeTimeout)); err != nil {
			t.Fatal(err)
		}
		if _, err := p.Master.Write(msg); err != nil {
			t.Fatalf("write to the agent (alive %v): %v\n%s", p.alive(), err, p.stderr.String())
		}
		timeout := time.After(probeTimeout)
		for {
			select {
			case got := <-pongs:
				if string(got) == string(probe) {
					return
				}
			case <-p.exited:
				t.Fatalf("the agent exited on input %x:\n%s", data, p.stderr.String())
			case <-timeout:
				t.Fatalf("no PONG %q within %v after input %x", probe, probeTimeout, data)
			}
		}
	})
}

// drainPongs reads everything the agent sends, so that it never blocks on
// a full pty, and delivers the data of every PONG. The cleanup stops it.
func drainPongs(tb testing.TB, master *os.File) <-chan []byte {
	pongs := make(chan []byte, 64)
	var wg sync.WaitGroup
	wg.Go(func() {
		dec := firmware.NewDecoder(firmware.MaxPayloadLimit)
		buf := make([]byte, 4096)
		for {
			n, err := master.Read(buf)
			dec.Feed(buf[:n], func(e firmware.Event) {
				if e.Kind == firmware.EventFrame && e.Frame.Type == firmware.TypePong {
					select {
					case pongs <- e.Frame.Payload:
					default: // nobody waits for it
					}
				}
			})
			if err != nil {
				return
			}
		}
	})
	tb.Cleanup(func() {
		_ = master.SetReadDeadline(time.Now())
		wg.Wait()
	})
	return pongs
}

// fuzzSeeds returns every golden vector, a whole session that loads a
// model and generates, and a few kinds of damage.
func fuzzSeeds(tb testing.TB) [][]byte {
	tb.Helper()
	golden, err := os.ReadFile("../testdata/golden.txt")
	if err != nil {
		tb.Fatal(err)
	}
	var seeds [][]byte
	sc := bufio.NewScanner(strings.NewReader(string(golden)))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) == 3 && !strings.HasPrefix(f[0], "#") {
			if b, err := hex.DecodeString(f[2]); err == nil {
				seeds = append(seeds, b)
			}
		}
	}
	model := []byte("a tiny model\x00\x00with zeros")
	sum := sha256.Sum256(model)
	var session []byte
	for i, m := range []firmware.Message{
		&firmware.Hello{ProtocolVersion: 1, MaxPayload: 64},
		&firmware.ModelBegin{Size: uint32(len(model)), SHA256: sum, ChunkSize: 8, Window: 2, Name: "m"},
		&firmware.ModelChunk{Offset: 0, Data: model[:8]},
		&firmware.ModelChunk{Offset: 16, Data: model[16:]},
		&firmware.ModelChunk{Offset: 8, Data: model[8:]},
		&firmware.ModelEnd{},
		&firmware.Generate{MaxTokens: 40, Seed: 1, Prompt: "hi"},
		&firmware.GetMetrics{},
		&firmware.Cancel{},
		&firmware.Generate{MaxTokens: 3, Seed: 2},
	} {
		session = append(session, firmware.Encode(uint16(i+1), m)...)
	}
	ping := firmware.Encode(9, &firmware.Ping{Data: []byte("x")})
	seeds = append(seeds,
		session,
		ping[:len(ping)/2],
		[]byte("boot text\r\n"),
		append([]byte{0}, make([]byte, 300)...),
		[]byte{0x01, 0xFF, 0x02, 0x00, 0xFF},
	)
	return seeds
}
