package devicetest

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"hash"
	"io"
	"sync"
	"testing"

	"github.com/tinyprof/tinyprof/device"
	"github.com/tinyprof/tinyprof/firmware"
)

// Request is one request a scripted board decoded.
type Request struct {
	Seq   uint16
	Msg   firmware.Message
	Index int // how many requests came before this one
}

// Send is one thing a scripted board sends: a message framed with Seq,
// or, if Raw is not nil, those bytes exactly as they are (noise, a torn
// frame, boot text).
type Send struct {
	Seq uint16
	Msg firmware.Message
	Raw []byte
}

// Reply frames msgs with seq, the way a board answers a request.
func Reply(seq uint16, msgs ...firmware.Message) []Send {
	out := make([]Send, len(msgs))
	for i, m := range msgs {
		out[i] = Send{Seq: seq, Msg: m}
	}
	return out
}

// Script decides what a scripted board sends in answer to each request.
// It is called from the board's goroutine, one request at a time.
type Script func(Request) []Send

// Board is a scripted board serving a Script on one end of a line. A
// corrupted frame is answered ERROR(BAD_FRAME) with seq 0, as the protocol
// requires, without consulting the script; a frame that does not decode
// as a request is answered ERROR(BAD_REQUEST).
type Board struct {
	conn   io.ReadWriteCloser
	script Script
	wg     sync.WaitGroup
	once   sync.Once
}

// NewBoard serves script on conn until conn fails or Close is called;
// announce, if not nil, is sent first as the boot INFO (seq 0). The caller
// must call Close, which closes conn and waits for the board to stop.
func NewBoard(conn io.ReadWriteCloser, script Script, announce *firmware.Info) *Board {
	b := &Board{conn: conn, script: script}
	b.wg.Add(1)
	go b.serve(announce)
	return b
}

// Start runs script on an in-memory line and returns the host's end,
// closed, with the board stopped, when the test ends.
func Start(tb testing.TB, script Script, opts PipeOptions) *End {
	tb.Helper()
	host, board := Pipe(opts)
	b := NewBoard(board, script, nil)
	tb.Cleanup(func() {
		host.Close()
		b.Close()
	})
	return host
}

// Close stops the board and waits for its goroutine.
func (b *Board) Close() error {
	b.once.Do(func() { b.conn.Close() })
	b.wg.Wait()
	return nil
}

func (b *Board) serve(announce *firmware.Info) {
	defer b.wg.Done()
	if announce != nil {
		b.send([]Send{{Msg: announce}})
	}
	dec := firmware.NewDecoder(firmware.MaxPayloadLimit)
	buf := make([]byte, 4096)
	index := 0
	for {
		n, err := b.conn.Read(buf)
		dec.Feed(buf[:n], func(e firmware.Event) {
			switch e.Kind {
			case firmware.EventBad:
				b.send(Reply(0, &firmware.Error{Code: firmware.CodeBadFrame, Text: "bad frame"}))
			case firmware.EventFrame:
				msg, err := firmware.Decode(e.Frame)
				if err != nil {
					b.send(Reply(e.Frame.Seq, &firmware.Error{Code: firmware.CodeBadRequest, Request: e.Frame.Type, Text: err.Error()}))
					return
				}
				r := Request{Seq: e.Frame.Seq, Msg: msg, Index: index}
				index++
				b.send(b.script(r))
			}
		})
		if err != nil && !isTimeout(err) {
			return
		}
	}
}

func (b *Board) send(out []Send) {
	var wire []byte
	for _, s := range out {
		if s.Raw != nil {
			wire = append(wire, s.Raw...)
			continue
		}
		if s.Msg == nil {
			continue
		}
		wire = firmware.AppendFrame(wire, firmware.Frame{Type: s.Msg.Type(), Seq: s.Seq, Payload: s.Msg.AppendPayload(nil)})
	}
	if len(wire) > 0 {
		b.conn.Write(wire) // a closed line ends serve at its next Read
	}
}

func isTimeout(err error) bool {
	t, ok := err.(interface{ Timeout() bool })
	return ok && t.Timeout()
}

// Honest is a protocol-correct board to build scripts on: it answers
// HELLO, PING, GET_METRICS, RESET, an upload (verifying its SHA-256, with
// resume), GENERATE and CANCEL as PROTOCOL.md says. A lying board is an
// Honest one whose answers a Script rewrites. Set the fields before its
// first request; Answer is its Script.
type Honest struct {
	// Info is answered to HELLO. Default: a board named "scripted" with
	// 512 KiB of SRAM, 8 MiB of PSRAM and the default payload.
	Info firmware.Info
	// Metrics, if set, is answered to GET_METRICS; default: a fixed
	// snapshot with 200 KiB of heap free, whose uptime advances.
	Metrics func(uptimeUS uint64) firmware.Metrics
	// TokenUS is the modelled time per token; default 50 ms. PrefillUS the
	// prompt's; default 20 ms.
	TokenUS, PrefillUS uint64

	mu      sync.Mutex
	clockUS uint64
	up      *upload
	loaded  *[32]byte
}

type upload struct {
	size uint32
	sum  [32]byte
	h    hash.Hash
	have uint32
}

// NewHonest returns an honest board with the default Info.
func NewHonest() *Honest {
	return &Honest{Info: firmware.Info{ProtocolVersion: firmware.ProtocolVersion, Firmware: "devicetest/1",
		Platform: "scripted", Chip: "scripted board", CPUMHz: 240, SRAM: 512 << 10, PSRAM: 8 << 20, Flash: 16 << 20,
		MaxPayload: firmware.DefaultMaxPayload, BootID: 0x5c12_0001, Capabilities: firmware.CapCancel | firmware.CapSimulated}}
}

func (h *Honest) tick(us uint64) uint64 {
	h.clockUS += us
	return h.clockUS
}

// Answer is the honest board's Script.
func (h *Honest) Answer(r Request) []Send {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.tick(100)
	switch m := r.Msg.(type) {
	case *firmware.Hello:
		info := h.Info
		return Reply(r.Seq, &info)
	case *firmware.Ping:
		return Reply(r.Seq, &firmware.Pong{Data: m.Data})
	case *firmware.GetMetrics:
		return Reply(r.Seq, h.metrics())
	case *firmware.Reset:
		h.Info.BootID++
		h.up, h.loaded = nil, nil
		info := h.Info
		return append(Reply(r.Seq, &firmware.ResetAck{}), Send{Msg: &info})
	case *firmware.ModelBegin:
		return Reply(r.Seq, h.begin(m))
	case *firmware.ModelChunk:
		return Reply(r.Seq, h.chunk(m))
	case *firmware.ModelEnd:
		return Reply(r.Seq, h.end())
	case *firmware.Generate:
		if h.loaded == nil {
			return Reply(r.Seq, &firmware.Error{Code: firmware.CodeNoModel, Request: firmware.TypeGenerate, Text: "no model loaded"})
		}
		return Reply(r.Seq, h.generate(m)...)
	case *firmware.Cancel:
		// Generations finish within their answer: none is ever running.
		return Reply(r.Seq, &firmware.Error{Code: firmware.CodeBadRequest, Request: firmware.TypeCancel, Text: "no generation running"})
	}
	return Reply(r.Seq, &firmware.Error{Code: firmware.CodeUnknownCommand, Request: r.Msg.Type(), Text: "not a request"})
}

func (h *Honest) metrics() *firmware.Metrics {
	if h.Metrics != nil {
		m := h.Metrics(h.clockUS)
		return &m
	}
	return &firmware.Metrics{UptimeUS: h.clockUS, FreeHeap: 200 << 10, MinFreeHeap: 180 << 10, LargestFree: 150 << 10,
		PSRAMFree: 6 << 20, PSRAMMinFree: 5 << 20, CPULoad: 100}
}

func (h *Honest) begin(m *firmware.ModelBegin) firmware.Message {
	if m.Size == 0 || m.Size > h.Info.PSRAM+h.Info.SRAM {
		return &firmware.Error{Code: firmware.CodeModelTooLarge, Request: firmware.TypeModelBegin, Text: "model too large"}
	}
	if h.up == nil || h.up.size != m.Size || h.up.sum != m.SHA256 {
		h.up = &upload{size: m.Size, sum: m.SHA256, h: sha256.New()}
		h.loaded = nil
	}
	most := uint16(int(h.Info.MaxPayload) - 4)
	chunk := m.ChunkSize
	if chunk == 0 || chunk > most {
		chunk = most
	}
	return &firmware.ModelAck{Offset: h.up.have, ChunkSize: chunk, Window: max(1, min(m.Window, 8))}
}

func (h *Honest) chunk(m *firmware.ModelChunk) firmware.Message {
	if h.up == nil {
		return &firmware.Error{Code: firmware.CodeBadRequest, Request: firmware.TypeModelChunk, Text: "no upload"}
	}
	if m.Offset == h.up.have && uint64(h.up.have)+uint64(len(m.Data)) <= uint64(h.up.size) {
		h.up.h.Write(m.Data)
		h.up.have += uint32(len(m.Data))
	}
	return &firmware.ModelAck{Offset: h.up.have}
}

func (h *Honest) end() firmware.Message {
	if h.up == nil && h.loaded != nil {
		done := &firmware.ModelDone{SHA256: *h.loaded, Region: firmware.RegionPSRAM, Bytes: 1, Parameters: 1}
		return done
	}
	if h.up == nil || h.up.have != h.up.size {
		return &firmware.Error{Code: firmware.CodeBadRequest, Request: firmware.TypeModelEnd, Text: "upload incomplete"}
	}
	up := h.up
	h.up = nil
	var sum [32]byte
	copy(sum[:], up.h.Sum(nil))
	if !bytes.Equal(sum[:], up.sum[:]) {
		return &firmware.Error{Code: firmware.CodeBadChecksum, Request: firmware.TypeModelEnd, Text: "SHA-256 mismatch"}
	}
	h.loaded = &sum
	return &firmware.ModelDone{SHA256: sum, Region: firmware.RegionPSRAM, Bytes: up.size, Parameters: up.size / 4}
}

// generate answers a GENERATE with its TOKENS batches (16 tokens each)
// and GEN_DONE, all at once: token ids depend only on the seed.
func (h *Honest) generate(m *firmware.Generate) []firmware.Message {
	tokenUS, prefillUS := h.TokenUS, h.PrefillUS
	if tokenUS == 0 {
		tokenUS = 50_000
	}
	if prefillUS == 0 {
		prefillUS = 20_000
	}
	start := h.clockUS
	h.tick(prefillUS)
	var out []firmware.Message
	var batch []firmware.Token
	first := uint64(0)
	x := uint32(m.Seed)*2654435761 + 1
	for i := 0; i < int(m.MaxTokens); i++ {
		x = x*1664525 + 1013904223
		t := h.tick(tokenUS)
		if i == 0 {
			first = t
		}
		batch = append(batch, firmware.Token{ID: x % 512, TimeUS: t})
		if len(batch) == 16 || i == int(m.MaxTokens)-1 {
			out = append(out, &firmware.Tokens{Index: uint16(i + 1 - len(batch)), Tokens: batch})
			batch = nil
		}
	}
	done := &firmware.GenDone{Tokens: m.MaxTokens, PromptTokens: uint16(len(m.Prompt) + 1), StartUS: start,
		PrefillUS: uint32(prefillUS), PeakHeap: 120 << 10, PeakPSRAM: 2 << 20, Stop: firmware.StopLength}
	if m.MaxTokens > 0 {
		done.TTFTUS = uint32(first - start)
		done.DecodeUS = uint32(h.clockUS - first)
	}
	return append(out, done)
}

// String names the board for test logs.
func (h *Honest) String() string { return fmt.Sprintf("honest board %q", h.Info.Platform) }

var _ device.Transport = (*End)(nil)
