package sim

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/tinyprof/tinyprof/firmware"
	"github.com/tinyprof/tinyprof/model"
	"github.com/tinyprof/tinyprof/model/llama"
	"github.com/tinyprof/tinyprof/platform"
)

// bootText is what an ESP32-S3's ROM and bootloader print at reset.
const bootText = "ESP-ROM:esp32s3-20210327\r\nBuild:Mar 27 2021\r\nrst:0x1 (POWERON),boot:0x8 (SPI_FAST_FLASH_BOOT)\r\n" +
	"SPIWP:0xee\r\nmode:DIO, clock div:1\r\nload:0x3fce3808,len:0x44c\r\nentry 0x403c9880\r\n" +
	"\x1b[0;32mI (24) boot: ESP-IDF v5.2.1 2nd stage bootloader\x1b[0m\r\n"

// serve reads the line and answers until the board stops.
func (b *Board) serve() {
	defer b.wg.Done()
	b.announce()
	dec := firmware.NewDecoder(b.Options.MaxPayload)
	buf := make([]byte, 4096)
	rxBytes := 0
	for {
		n, err := b.conn.Read(buf)
		if n > 0 {
			if !b.pace(n) {
				return
			}
			b.mu.Lock()
			hung := b.state.hung
			b.mu.Unlock()
			if every := b.Options.Faults.FlipRxByteEvery; every > 0 {
				for i := range buf[:n] {
					if rxBytes++; rxBytes%every == 0 {
						buf[i] ^= 0x01
					}
				}
			}
			if !hung {
				dec.Feed(buf[:n], b.handle)
			}
			if f := b.Options.Faults.StopReadingAfter; f > 0 && b.received() >= f {
				<-b.stop // never read again
				return
			}
		}
		if err != nil {
			return
		}
	}
}

func (b *Board) received() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.state.rxFrames
}

// pace sleeps for n bytes at the emulated baud rate.
func (b *Board) pace(n int) bool {
	if b.Options.Baud <= 0 {
		return !b.stopped()
	}
	return b.sleep(time.Duration(float64(n*10) / float64(b.Options.Baud) * float64(time.Second)))
}

// announce prints boot noise and the unsolicited boot INFO.
func (b *Board) announce() {
	if b.Options.Faults.BootNoise {
		b.write([]byte(bootText))
	}
	b.send(0, b.info())
}

func (b *Board) info() *firmware.Info {
	b.mu.Lock()
	defer b.mu.Unlock()
	v := uint8(firmware.ProtocolVersion)
	if b.Options.Faults.ProtocolVersion != 0 {
		v = b.Options.Faults.ProtocolVersion
	}
	caps := firmware.CapCancel | firmware.CapSimulated
	if b.plat.PSRAM > 0 && b.plat.SRAM > 0 {
		caps |= firmware.CapPSRAM
	}
	if b.pmodel != nil {
		caps |= firmware.CapPower // modelled, as CapSimulated says
	}
	return &firmware.Info{ProtocolVersion: v, Firmware: b.Options.Firmware, Platform: b.plat.Name,
		Chip: b.plat.Chip + " (simulated)", CPUMHz: uint16(b.plat.CPUMHz),
		SRAM: clamp32(b.plat.SRAM), PSRAM: clamp32(b.plat.PSRAM), Flash: clamp32(b.plat.Flash),
		MaxPayload: uint16(b.Options.MaxPayload), BootID: b.state.bootID, Capabilities: caps}
}

func clamp32(n int64) uint32 { return uint32(min(n, 1<<32-1)) }

// handle answers one decoded event from the host.
func (b *Board) handle(e firmware.Event) {
	f := b.Options.Faults
	switch e.Kind {
	case firmware.EventText:
		return
	case firmware.EventBad:
		b.send(0, &firmware.Error{Code: firmware.CodeBadFrame, Text: e.Err.Error()})
		return
	}
	b.mu.Lock()
	b.state.rxFrames++
	n := b.state.rxFrames
	b.mu.Unlock()
	if f.DropRxEvery > 0 && n%f.DropRxEvery == 0 {
		return
	}
	if f.CorruptRxEvery > 0 && n%f.CorruptRxEvery == 0 {
		b.send(0, &firmware.Error{Code: firmware.CodeBadFrame, Text: "crc mismatch"})
		return
	}
	if f.Silent {
		return
	}
	if f.Garbage > 0 {
		g := make([]byte, f.Garbage)
		for i := range g {
			g[i] = byte(rand.N(255)) + 1
		}
		b.write(g)
		return
	}
	if !b.sleep(f.ResponseDelay) {
		return
	}
	seq := e.Frame.Seq
	msg, err := firmware.Decode(e.Frame)
	if err != nil {
		code := firmware.CodeBadRequest
		if _, ok := err.(firmware.ErrUnknownType); ok {
			code = firmware.CodeUnknownCommand
		}
		b.send(seq, &firmware.Error{Code: code, Request: e.Frame.Type, Text: err.Error()})
		return
	}
	b.mu.Lock()
	b.state.addWork(100) // dispatch overhead
	b.mu.Unlock()
	switch m := msg.(type) {
	case *firmware.Hello:
		b.send(seq, b.info())
	case *firmware.Ping:
		b.send(seq, &firmware.Pong{Data: m.Data})
	case *firmware.GetMetrics:
		b.mu.Lock()
		busy := b.state.generating && b.Options.Faults.BusyMetrics
		b.mu.Unlock()
		if busy {
			b.send(seq, &firmware.Error{Code: firmware.CodeBusy, Request: firmware.TypeGetMetrics, Text: "generating"})
			return
		}
		b.send(seq, b.metrics())
	case *firmware.Reset:
		b.send(seq, &firmware.ResetAck{})
		b.reboot()
	case *firmware.ModelBegin:
		b.modelBegin(seq, m)
	case *firmware.ModelChunk:
		b.modelChunk(seq, m)
	case *firmware.ModelEnd:
		b.modelEnd(seq)
	case *firmware.Generate:
		b.generate(seq, m)
	case *firmware.Cancel:
		b.mu.Lock()
		running := b.state.generating
		b.state.cancel = running
		b.mu.Unlock()
		if !running {
			b.send(seq, &firmware.Error{Code: firmware.CodeBadRequest, Request: firmware.TypeCancel, Text: "no generation running"})
		}
	default:
		b.send(seq, &firmware.Error{Code: firmware.CodeUnknownCommand, Request: e.Frame.Type,
			Text: fmt.Sprintf("%v is not a request", e.Frame.Type)})
	}
}

func (b *Board) reboot() {
	b.mu.Lock()
	b.state.reboot(b.Options, b.plat)
	b.mu.Unlock()
	b.announce()
}

func (b *Board) metrics() *firmware.Metrics {
	b.mu.Lock()
	defer b.mu.Unlock()
	s := &b.state
	internal, now := s.internalUS(), s.clockUS()
	if s.generating {
		// Answered between two tokens, as a single-threaded board does:
		// at the time of the last one, with its work recorded.
		internal = s.power.record()
		now = bootUS + internal - s.bootAt
	}
	// CPU load and power average since the previous reading, as they
	// would on a board (PROTOCOL.md §3.5).
	var load uint16
	busy := s.busyUS()
	if dt := now - s.lastLoadAt; now > s.lastLoadAt && s.lastLoadAt > 0 && busy >= s.lastBusy {
		load = uint16(min(1000, (busy-s.lastBusy)*1000/dt))
	}
	s.lastLoadAt, s.lastBusy = now, busy
	free := s.freeHeap()
	m := &firmware.Metrics{UptimeUS: now, FreeHeap: clamp32(free), MinFreeHeap: clamp32(s.heapMinFree),
		LargestFree: clamp32(s.heap.LargestFree(free)), PSRAMFree: clamp32(s.freePSRAM()), PSRAMMinFree: clamp32(s.psramMinFree),
		CPULoad: load}
	if b.pmodel != nil {
		m.HasPower = true
		m.PowerUW, m.CurrentUA, m.VoltageMV = b.powerReading(internal)
	}
	return m
}

// modelCapacity is what region r can hold for a model file now.
func (b *Board) modelCapacity(r platform.Region) int64 {
	switch r {
	case platform.Flash:
		if !b.plat.XIP {
			return 0
		}
		return max(0, b.plat.Flash-b.plat.Reserved(platform.Flash))
	case platform.PSRAM:
		if b.state.psramTotal > 0 {
			return b.state.freePSRAM()
		}
	}
	return b.state.freeHeap()
}

// admit checks a model file of size bytes before its header has arrived.
// The file is stored whole, so one larger than every region model.Fit may
// store it in is one Fit would refuse too; Fit has the last word once the
// header is in (see Place). b.mu must be held.
func (b *Board) admit(size int64) error {
	var have int64
	var where []string
	for _, r := range model.StorageRegions(b.plat, b.Options.Fit) {
		have = max(have, b.modelCapacity(r))
		where = append(where, string(r))
	}
	if size > have {
		return fmt.Errorf("model of %d bytes exceeds the %d bytes free in %s", size, have, strings.Join(where, " or "))
	}
	return nil
}

// Place returns the placement the board makes of a model with info, now:
// the check of its size that MODEL_BEGIN makes and the model.Fit that
// MODEL_END makes, without an upload. A model loaded on the board is
// counted as replaced, as an upload would replace it. The error is the
// text the board would send, wrapping model's *FitError when Fit refused.
func (b *Board) Place(info *model.Info) (*model.FitReport, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	s := &b.state
	if s.model != nil {
		s.freeItems(s.model.place, true)
		defer s.allocItems(s.model.place, true)
	}
	if err := b.admit(info.FileSize); err != nil {
		return nil, err
	}
	return model.Fit(info, b.plat, b.Options.Fit)
}

func (b *Board) modelBegin(seq uint16, m *firmware.ModelBegin) {
	b.mu.Lock()
	s := &b.state
	if s.generating {
		b.mu.Unlock()
		b.send(seq, &firmware.Error{Code: firmware.CodeBusy, Request: firmware.TypeModelBegin, Text: "generation running"})
		return
	}
	// A new model replaces the old one: free it first.
	if s.model != nil {
		s.freeItems(s.model.place, true)
		s.model = nil
	}
	if err := b.admit(int64(m.Size)); err != nil {
		b.mu.Unlock()
		b.send(seq, &firmware.Error{Code: firmware.CodeModelTooLarge, Request: firmware.TypeModelBegin, Text: err.Error()})
		return
	}
	if s.up == nil || s.up.sha != m.SHA256 || s.up.size != int64(m.Size) {
		s.up = &upload{size: int64(m.Size), sha: m.SHA256, data: make([]byte, 0, m.Size)}
	}
	off := len(s.up.data)
	b.mu.Unlock()
	chunk := min(int(m.ChunkSize), b.Options.MaxPayload-4)
	if chunk <= 0 {
		chunk = b.Options.MaxPayload - 4
	}
	b.send(seq, &firmware.ModelAck{Offset: uint32(off), ChunkSize: uint16(chunk), Window: min(max(m.Window, 1), 8)})
}

func (b *Board) modelChunk(seq uint16, m *firmware.ModelChunk) {
	b.mu.Lock()
	up := b.state.up
	if up == nil {
		b.mu.Unlock()
		b.send(seq, &firmware.Error{Code: firmware.CodeBadRequest, Request: firmware.TypeModelChunk, Text: "MODEL_CHUNK before MODEL_BEGIN"})
		return
	}
	have := int64(len(up.data))
	if int64(m.Offset) == have && have+int64(len(m.Data)) <= up.size {
		up.data = append(up.data, m.Data...)
		have = int64(len(up.data))
	}
	b.mu.Unlock()
	b.send(seq, &firmware.ModelAck{Offset: uint32(have)})
}

func (b *Board) modelEnd(seq uint16) {
	b.mu.Lock()
	s := &b.state
	up := s.up
	s.up = nil
	b.mu.Unlock()
	if up == nil {
		b.mu.Lock()
		m := s.model
		b.mu.Unlock()
		if m != nil {
			// The host retried because our MODEL_DONE was lost: answer again.
			b.send(seq, &firmware.ModelDone{SHA256: m.sha, Region: regionCode(m.region), Bytes: clamp32(m.info.WeightBytes), Parameters: clamp32(m.info.Parameters)})
			return
		}
		b.send(seq, &firmware.Error{Code: firmware.CodeBadRequest, Request: firmware.TypeModelEnd, Text: "MODEL_END before MODEL_BEGIN"})
		return
	}
	if sum := sha256.Sum256(up.data); int64(len(up.data)) != up.size || sum != up.sha {
		b.send(seq, &firmware.Error{Code: firmware.CodeBadChecksum, Request: firmware.TypeModelEnd,
			Text: fmt.Sprintf("received %d of %d bytes, sha256 %x…", len(up.data), up.size, sum[:4])})
		return
	}
	info, err := model.AnalyzeReader(bytes.NewReader(up.data), up.size)
	if err != nil {
		b.send(seq, &firmware.Error{Code: firmware.CodeUnsupportedFormat, Request: firmware.TypeModelEnd, Text: err.Error()})
		return
	}
	// Tokens come from the model itself when model/llama runs it.
	lm, lerr := llama.Load(bytes.NewReader(up.data), up.size)
	if lerr != nil {
		lm = nil
	}
	// The one placement model decides where everything goes, as
	// analyze-model and the benchmark's pre-flight check do.
	place, err := model.Fit(info, b.plat, b.Options.Fit)
	if err != nil {
		b.send(seq, &firmware.Error{Code: firmware.CodeModelTooLarge, Request: firmware.TypeModelEnd, Text: err.Error()})
		return
	}
	region := place.FileRegion()
	b.mu.Lock()
	if it, ok := s.allocItems(place, true); !ok {
		b.mu.Unlock()
		b.send(seq, &firmware.Error{Code: firmware.CodeOutOfMemory, Request: firmware.TypeModelEnd,
			Text: fmt.Sprintf("%s of %d bytes does not fit in %s: the heap has less free than at boot", it.Name, it.Bytes, it.Region)})
		return
	}
	s.model = &loaded{info: info, sha: up.sha, region: region, place: place, lm: lm}
	// Loading copies the file into place at the region's speed.
	loadUS := uint64(float64(up.size) / bw(b.plat, region) * 1e6)
	var rd reads
	rd.add(region, float64(up.size))
	s.power.add(s.internalUS(), loadUS, rd, false)
	s.addWork(loadUS)
	b.mu.Unlock()
	b.send(seq, &firmware.ModelDone{SHA256: up.sha, Region: regionCode(region), Bytes: clamp32(info.WeightBytes), Parameters: clamp32(info.Parameters)})
	b.log(firmware.LevelInfo, fmt.Sprintf("model loaded: %d params in %s", info.Parameters, region))
}

func regionCode(r platform.Region) firmware.Region {
	switch r {
	case platform.SRAM:
		return firmware.RegionSRAM
	case platform.PSRAM:
		return firmware.RegionPSRAM
	}
	return firmware.RegionFlash
}

// log sends a LOG frame.
func (b *Board) log(level firmware.LogLevel, text string) {
	b.mu.Lock()
	now := b.state.clockUS()
	b.mu.Unlock()
	b.send(0, &firmware.Log{Level: level, TimeUS: now, Text: text})
}

// send encodes m and writes it, applying the transmit faults.
func (b *Board) send(seq uint16, m firmware.Message) {
	wire := firmware.Encode(seq, m)
	f := b.Options.Faults
	b.mu.Lock()
	if b.state.hung {
		b.mu.Unlock()
		return
	}
	b.state.txFrames++
	n := b.state.txFrames
	if f.HangAfter > 0 && n > f.HangAfter {
		b.state.hung = true
		b.mu.Unlock()
		return
	}
	b.mu.Unlock()
	if f.DisconnectAfter > 0 && n > f.DisconnectAfter {
		b.conn.Close()
		return
	}
	if f.DropTxEvery > 0 && n%f.DropTxEvery == 0 {
		return
	}
	if f.CorruptTxEvery > 0 && n%f.CorruptTxEvery == 0 {
		i := len(wire) / 2
		wire[i] ^= 0x21
		if wire[i] == 0 {
			wire[i] = 0x5A
		}
	}
	b.write(wire)
}

func (b *Board) write(p []byte) {
	if !b.pace(len(p)) {
		return
	}
	b.wmu.Lock()
	defer b.wmu.Unlock()
	b.conn.Write(p)
}
