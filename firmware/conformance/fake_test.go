package conformance_test

import (
	"crypto/sha256"
	"io"
	"net"
	"sync"
	"testing"

	"github.com/tinyprof/tinyprof/firmware"
)

// faults are the ways a fake device can break the protocol.
type faults struct {
	silent          bool // never answers
	truncatePong    bool // drops the last byte of every PONG
	wrongUnknown    bool // answers unknown types with BAD_REQUEST
	noBadFrame      bool // ignores corrupt frames silently
	acceptGap       bool // accepts a chunk past a gap
	noResume        bool // restarts every upload at offset 0
	unsupported     bool // refuses every model with UNSUPPORTED_FORMAT
	skipIndex       bool // numbers the second TOKENS batch wrongly
	ttftOff         bool // reports a wrong ttft_us
	randomTokens    bool // ignores the seed
	logEverywhere   bool // sends a LOG before every answer
	hangAfterUpload bool // stops answering once a model is loaded
	busyMetrics     bool // refuses GET_METRICS sent with a GENERATE's seq
}

// fake is an in-process device that speaks the protocol over a net.Conn.
type fake struct {
	f     faults
	conn  net.Conn
	max   int
	clock uint64
	nonce uint32

	upSHA    [32]byte
	upSize   uint32
	upData   []byte
	upActive bool
	loaded   bool
	genSeq   uint16 // the last GENERATE's
}

// startFake starts a fake device and returns the host's end of the line.
// Closing the returned conn stops the device; the cleanup waits for it.
func startFake(t *testing.T, f faults) net.Conn {
	host, dev := net.Pipe()
	d := &fake{f: f, conn: dev, max: firmware.DefaultMaxPayload, clock: 1000}
	var wg sync.WaitGroup
	wg.Go(func() { d.run() })
	t.Cleanup(func() {
		host.Close()
		dev.Close()
		wg.Wait()
	})
	return host
}

func (d *fake) run() {
	dec := firmware.NewDecoder(firmware.DefaultMaxPayload)
	buf := make([]byte, 4096)
	for {
		n, err := d.conn.Read(buf)
		dec.Feed(buf[:n], d.event)
		if err != nil {
			return
		}
	}
}

func (d *fake) send(seq uint16, m firmware.Message) {
	if d.f.logEverywhere && m.Type() != firmware.TypeLog {
		d.send(0, &firmware.Log{Level: firmware.LevelDebug, TimeUS: d.clock, Text: "about to answer"})
	}
	_, _ = d.conn.Write(firmware.Encode(seq, m))
}

func (d *fake) fail(seq uint16, req firmware.Type, code firmware.Code) {
	d.send(seq, &firmware.Error{Code: code, Request: req, Text: code.String()})
}

func (d *fake) event(e firmware.Event) {
	if d.f.silent || d.f.hangAfterUpload && d.loaded {
		return
	}
	switch e.Kind {
	case firmware.EventBad:
		if !d.f.noBadFrame {
			d.fail(0, 0, firmware.CodeBadFrame)
		}
		return
	case firmware.EventText:
		return
	}
	f := e.Frame
	m, err := firmware.Decode(f)
	if err != nil {
		if _, ok := err.(firmware.ErrUnknownType); ok {
			code := firmware.CodeUnknownCommand
			if d.f.wrongUnknown {
				code = firmware.CodeBadRequest
			}
			d.fail(f.Seq, f.Type, code)
			return
		}
		d.fail(f.Seq, f.Type, firmware.CodeBadRequest)
		return
	}
	d.clock += 100
	switch m := m.(type) {
	case *firmware.Hello:
		d.send(f.Seq, &firmware.Info{ProtocolVersion: 1, Firmware: "fake/1", Platform: "fake", Chip: "Go",
			CPUMHz: 1, SRAM: 1 << 20, MaxPayload: firmware.DefaultMaxPayload, BootID: 0xFA4E})
	case *firmware.Ping:
		data := m.Data
		if d.f.truncatePong && len(data) > 0 {
			data = data[:len(data)-1]
		}
		d.send(f.Seq, &firmware.Pong{Data: data})
	case *firmware.GetMetrics:
		if d.f.busyMetrics && f.Seq == d.genSeq {
			d.fail(f.Seq, f.Type, firmware.CodeBusy)
			return
		}
		d.send(f.Seq, &firmware.Metrics{UptimeUS: d.clock, FreeHeap: 1000, MinFreeHeap: 900, LargestFree: 800})
	case *firmware.ModelBegin:
		d.begin(f.Seq, m)
	case *firmware.ModelChunk:
		d.chunk(f.Seq, m)
	case *firmware.ModelEnd:
		d.end(f.Seq)
	case *firmware.Generate:
		d.genSeq = f.Seq
		d.generate(f.Seq, m)
	case *firmware.Cancel:
	default:
		d.fail(f.Seq, f.Type, firmware.CodeUnknownCommand)
	}
}

func (d *fake) begin(seq uint16, m *firmware.ModelBegin) {
	if m.Size > 1<<20 {
		d.fail(seq, firmware.TypeModelBegin, firmware.CodeModelTooLarge)
		return
	}
	if !d.upActive || m.SHA256 != d.upSHA || m.Size != d.upSize || d.f.noResume {
		d.upSHA, d.upSize, d.upData, d.upActive, d.loaded = m.SHA256, m.Size, nil, true, false
	}
	d.send(seq, &firmware.ModelAck{Offset: uint32(len(d.upData)), ChunkSize: min(m.ChunkSize, 200), Window: min(m.Window, 3)})
}

func (d *fake) chunk(seq uint16, m *firmware.ModelChunk) {
	if !d.upActive {
		d.fail(seq, firmware.TypeModelChunk, firmware.CodeBadRequest)
		return
	}
	switch {
	case int(m.Offset) == len(d.upData):
		d.upData = append(d.upData, m.Data...)
	case d.f.acceptGap && int(m.Offset) > len(d.upData):
		d.upData = append(d.upData, make([]byte, int(m.Offset)-len(d.upData))...)
		d.upData = append(d.upData, m.Data...)
	}
	d.send(seq, &firmware.ModelAck{Offset: uint32(len(d.upData)), ChunkSize: 200, Window: 3})
}

func (d *fake) end(seq uint16) {
	if !d.upActive && d.loaded { // a repeated MODEL_END: answer again
		d.send(seq, &firmware.ModelDone{SHA256: d.upSHA, Region: firmware.RegionSRAM, Bytes: d.upSize, Parameters: d.upSize / 4})
		return
	}
	defer func() { d.upActive, d.upData = false, nil }()
	if sha256.Sum256(d.upData) != d.upSHA {
		d.fail(seq, firmware.TypeModelEnd, firmware.CodeBadChecksum)
		return
	}
	if d.f.unsupported {
		d.fail(seq, firmware.TypeModelEnd, firmware.CodeUnsupportedFormat)
		return
	}
	d.loaded = true
	d.send(seq, &firmware.ModelDone{SHA256: d.upSHA, Region: firmware.RegionSRAM, Bytes: d.upSize, Parameters: d.upSize / 4})
}

func (d *fake) generate(seq uint16, m *firmware.Generate) {
	if !d.loaded {
		d.fail(seq, firmware.TypeGenerate, firmware.CodeNoModel)
		return
	}
	start := d.clock
	x := m.Seed | 1
	if d.f.randomTokens {
		d.nonce++
		x += d.nonce
	}
	var batch []firmware.Token
	index, first := 0, uint64(0)
	for i := range int(m.MaxTokens) {
		d.clock += 50
		if i == 0 {
			first = d.clock
		}
		x = x*1664525 + 1013904223
		batch = append(batch, firmware.Token{ID: x >> 23, TimeUS: d.clock})
		if len(batch) == 16 || i == int(m.MaxTokens)-1 {
			idx := index
			if d.f.skipIndex && index == 16 {
				idx++
			}
			d.send(seq, &firmware.Tokens{Index: uint16(idx), Tokens: batch})
			index += len(batch)
			batch = nil
		}
	}
	ttft := uint32(first - start)
	if d.f.ttftOff {
		ttft += 5000
	}
	d.send(seq, &firmware.GenDone{Tokens: m.MaxTokens, PromptTokens: 4, StartUS: start, PrefillUS: 10, TTFTUS: ttft,
		DecodeUS: uint32(d.clock - first), Stop: firmware.StopLength})
}

var _ io.ReadWriter = net.Conn(nil)
