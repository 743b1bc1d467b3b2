package firmware

import (
	"fmt"
	"strings"
)

// Hello opens a session: the host says which protocol version it speaks and
// the largest payload it accepts. The device answers with Info.
type Hello struct {
	ProtocolVersion uint8
	MaxPayload      uint16
}

func (*Hello) Type() Type { return TypeHello }
func (m *Hello) AppendPayload(b []byte) []byte {
	w := writer{b}
	w.u8(m.ProtocolVersion)
	w.u16(m.MaxPayload)
	return w.b
}
func (m *Hello) UnmarshalPayload(p []byte) error {
	r := reader{b: p}
	m.ProtocolVersion, m.MaxPayload = r.u8(), r.u16()
	return r.err
}

// Info describes the device. It answers Hello, and a device also sends it
// unsolicited (sequence 0) when it boots, so a host sees every reset.
type Info struct {
	ProtocolVersion uint8        `json:"protocol_version"`
	Firmware        string       `json:"firmware"` // firmware name and version, e.g. "tinyprof-agent/0.1.0"
	Platform        string       `json:"platform"` // catalogue key, e.g. "esp32s3"
	Chip            string       `json:"chip"`     // chip and revision, e.g. "ESP32-S3 rev0.2"
	CPUMHz          uint16       `json:"cpu_mhz"`
	SRAM            uint32       `json:"sram"`        // bytes
	PSRAM           uint32       `json:"psram"`       // bytes, 0 if none
	Flash           uint32       `json:"flash"`       // bytes
	MaxPayload      uint16       `json:"max_payload"` // largest payload the device accepts
	BootID          uint32       `json:"boot_id"`     // random at every boot: a change means the board reset
	Capabilities    Capabilities `json:"capabilities"`
}

func (*Info) Type() Type { return TypeInfo }
func (m *Info) AppendPayload(b []byte) []byte {
	w := writer{b}
	w.u8(m.ProtocolVersion)
	w.str(m.Firmware)
	w.str(m.Platform)
	w.str(m.Chip)
	w.u16(m.CPUMHz)
	w.u32(m.SRAM)
	w.u32(m.PSRAM)
	w.u32(m.Flash)
	w.u16(m.MaxPayload)
	w.u32(m.BootID)
	w.u16(uint16(m.Capabilities))
	return w.b
}
func (m *Info) UnmarshalPayload(p []byte) error {
	r := reader{b: p}
	m.ProtocolVersion = r.u8()
	if r.err == nil && m.ProtocolVersion != ProtocolVersion {
		// Later fields may differ in another version: keep what is known.
		return nil
	}
	m.Firmware, m.Platform, m.Chip = r.str(), r.str(), r.str()
	m.CPUMHz, m.SRAM, m.PSRAM, m.Flash = r.u16(), r.u32(), r.u32(), r.u32()
	m.MaxPayload, m.BootID, m.Capabilities = r.u16(), r.u32(), Capabilities(r.u16())
	return r.err
}

// Ping asks the device to echo Data in a Pong.
type Ping struct{ Data []byte }

func (*Ping) Type() Type                        { return TypePing }
func (m *Ping) AppendPayload(b []byte) []byte   { return append(b, m.Data...) }
func (m *Ping) UnmarshalPayload(p []byte) error { m.Data = append([]byte(nil), p...); return nil }

// Pong echoes a Ping's data.
type Pong struct{ Data []byte }

func (*Pong) Type() Type                        { return TypePong }
func (m *Pong) AppendPayload(b []byte) []byte   { return append(b, m.Data...) }
func (m *Pong) UnmarshalPayload(p []byte) error { m.Data = append([]byte(nil), p...); return nil }

// Reset asks the device to restart its firmware. It answers ResetAck, then
// reboots and announces itself with an unsolicited Info carrying a new BootID.
type Reset struct{}

func (*Reset) Type() Type                    { return TypeReset }
func (*Reset) AppendPayload(b []byte) []byte { return b }
func (*Reset) UnmarshalPayload([]byte) error { return nil }

// ResetAck confirms a Reset before the device restarts.
type ResetAck struct{}

func (*ResetAck) Type() Type                    { return TypeResetAck }
func (*ResetAck) AppendPayload(b []byte) []byte { return b }
func (*ResetAck) UnmarshalPayload([]byte) error { return nil }

// ModelBegin starts (or resumes) a model upload. The device answers
// ModelAck with the offset it already holds for a model of this SHA-256
// (0 for a new upload) and the chunk size and window it accepts.
type ModelBegin struct {
	Size      uint32
	SHA256    [32]byte
	ChunkSize uint16 // proposed payload bytes per chunk
	Window    uint8  // proposed chunks in flight before an acknowledgement
	Name      string
}

func (*ModelBegin) Type() Type { return TypeModelBegin }
func (m *ModelBegin) AppendPayload(b []byte) []byte {
	w := writer{b}
	w.u32(m.Size)
	w.bytes(m.SHA256[:])
	w.u16(m.ChunkSize)
	w.u8(m.Window)
	w.str(m.Name)
	return w.b
}
func (m *ModelBegin) UnmarshalPayload(p []byte) error {
	r := reader{b: p}
	m.Size = r.u32()
	copy(m.SHA256[:], r.need(32))
	m.ChunkSize, m.Window, m.Name = r.u16(), r.u8(), r.str()
	return r.err
}

// ModelChunk carries model bytes at Offset.
type ModelChunk struct {
	Offset uint32
	Data   []byte
}

func (*ModelChunk) Type() Type { return TypeModelChunk }
func (m *ModelChunk) AppendPayload(b []byte) []byte {
	w := writer{b}
	w.u32(m.Offset)
	w.bytes(m.Data)
	return w.b
}
func (m *ModelChunk) UnmarshalPayload(p []byte) error {
	r := reader{b: p}
	m.Offset = r.u32()
	m.Data = r.rest()
	return r.err
}

// ModelAck acknowledges model bytes cumulatively: the device holds every
// byte before Offset. A chunk that does not start at Offset is dropped and
// answered with the same Offset, so the host resends from there.
type ModelAck struct {
	Offset    uint32
	ChunkSize uint16
	Window    uint8
}

func (*ModelAck) Type() Type { return TypeModelAck }
func (m *ModelAck) AppendPayload(b []byte) []byte {
	w := writer{b}
	w.u32(m.Offset)
	w.u16(m.ChunkSize)
	w.u8(m.Window)
	return w.b
}
func (m *ModelAck) UnmarshalPayload(p []byte) error {
	r := reader{b: p}
	m.Offset, m.ChunkSize, m.Window = r.u32(), r.u16(), r.u8()
	return r.err
}

// ModelEnd asks the device to verify the uploaded model's SHA-256 and
// load it. It answers ModelDone or Error.
type ModelEnd struct{}

func (*ModelEnd) Type() Type                    { return TypeModelEnd }
func (*ModelEnd) AppendPayload(b []byte) []byte { return b }
func (*ModelEnd) UnmarshalPayload([]byte) error { return nil }

// ModelDone reports a verified, loaded model.
type ModelDone struct {
	SHA256     [32]byte
	Region     Region // where the weights live
	Bytes      uint32 // bytes the weights occupy there
	Parameters uint32
}

func (*ModelDone) Type() Type { return TypeModelDone }
func (m *ModelDone) AppendPayload(b []byte) []byte {
	w := writer{b}
	w.bytes(m.SHA256[:])
	w.u8(uint8(m.Region))
	w.u32(m.Bytes)
	w.u32(m.Parameters)
	return w.b
}
func (m *ModelDone) UnmarshalPayload(p []byte) error {
	r := reader{b: p}
	copy(m.SHA256[:], r.need(32))
	m.Region, m.Bytes, m.Parameters = Region(r.u8()), r.u32(), r.u32()
	return r.err
}

// Generate starts a generation. The device answers with Tokens batches
// and one GenDone, all carrying the Generate's sequence number.
type Generate struct {
	MaxTokens   uint16
	Seed        uint32
	Temperature uint16 // in thousandths; 0 = greedy
	TopP        uint16 // in thousandths; 0 or 1000 = off
	TopK        uint16 // 0 = off
	Prompt      string // UTF-8, at most 255 bytes
}

func (*Generate) Type() Type { return TypeGenerate }
func (m *Generate) AppendPayload(b []byte) []byte {
	w := writer{b}
	w.u16(m.MaxTokens)
	w.u32(m.Seed)
	w.u16(m.Temperature)
	w.u16(m.TopP)
	w.u16(m.TopK)
	w.str(m.Prompt)
	return w.b
}
func (m *Generate) UnmarshalPayload(p []byte) error {
	r := reader{b: p}
	m.MaxTokens, m.Seed, m.Temperature, m.TopP, m.TopK = r.u16(), r.u32(), r.u16(), r.u16(), r.u16()
	m.Prompt = r.str()
	return r.err
}

// Token is one generated token with its device timestamp.
type Token struct {
	ID     uint32
	TimeUS uint64 // device clock, microseconds since boot
}

// Tokens carries a batch of generated tokens. On the wire each token is
// its id and the microseconds since the previous token, both as uvarints:
// three to five bytes a token at realistic rates.
type Tokens struct {
	Index  uint16 // position of the batch's first token in the generation
	Tokens []Token
}

func (*Tokens) Type() Type { return TypeTokens }
func (m *Tokens) AppendPayload(b []byte) []byte {
	w := writer{b}
	w.u16(m.Index)
	var prev uint64
	if len(m.Tokens) > 0 {
		prev = m.Tokens[0].TimeUS
		w.uvarint(prev)
	}
	for _, t := range m.Tokens {
		w.uvarint(uint64(t.ID))
		w.uvarint(t.TimeUS - prev)
		prev = t.TimeUS
	}
	return w.b
}
func (m *Tokens) UnmarshalPayload(p []byte) error {
	r := reader{b: p}
	m.Index = r.u16()
	m.Tokens = nil
	if r.err != nil || len(r.b) == 0 {
		return r.err
	}
	t := r.uvarint()
	// Every uvarint ends in a byte below 0x80; two make a token. One
	// allocation of the right size, bounded by the payload.
	ends := 0
	for _, c := range r.b {
		if c < 0x80 {
			ends++
		}
	}
	if ends >= 2 { // a batch with no token decodes as nil, as before
		m.Tokens = make([]Token, 0, ends/2)
	}
	for r.err == nil && len(r.b) > 0 {
		id, dt := r.uvarint(), r.uvarint()
		if id > 1<<32-1 {
			return fmt.Errorf("token id %d does not fit 32 bits", id)
		}
		t += dt
		if r.err == nil {
			m.Tokens = append(m.Tokens, Token{ID: uint32(id), TimeUS: t})
		}
	}
	return r.err
}

// GenDone ends a generation with the device's own timings.
type GenDone struct {
	Tokens       uint16 // tokens generated
	PromptTokens uint16
	StartUS      uint64 // device clock when the Generate was accepted
	PrefillUS    uint32 // time to process the prompt
	TTFTUS       uint32 // start to the first generated token
	DecodeUS     uint32 // first generated token to the last
	PeakHeap     uint32 // bytes of internal heap in use at the peak
	PeakPSRAM    uint32 // bytes of PSRAM in use at the peak
	Stop         StopReason
}

func (*GenDone) Type() Type { return TypeGenDone }
func (m *GenDone) AppendPayload(b []byte) []byte {
	w := writer{b}
	w.u16(m.Tokens)
	w.u16(m.PromptTokens)
	w.u64(m.StartUS)
	w.u32(m.PrefillUS)
	w.u32(m.TTFTUS)
	w.u32(m.DecodeUS)
	w.u32(m.PeakHeap)
	w.u32(m.PeakPSRAM)
	w.u8(uint8(m.Stop))
	return w.b
}
func (m *GenDone) UnmarshalPayload(p []byte) error {
	r := reader{b: p}
	m.Tokens, m.PromptTokens, m.StartUS = r.u16(), r.u16(), r.u64()
	m.PrefillUS, m.TTFTUS, m.DecodeUS = r.u32(), r.u32(), r.u32()
	m.PeakHeap, m.PeakPSRAM, m.Stop = r.u32(), r.u32(), StopReason(r.u8())
	return r.err
}

// GetMetrics asks for a Metrics snapshot.
type GetMetrics struct{}

func (*GetMetrics) Type() Type                    { return TypeGetMetrics }
func (*GetMetrics) AppendPayload(b []byte) []byte { return b }
func (*GetMetrics) UnmarshalPayload([]byte) error { return nil }

// Cancel stops a running generation; the device ends it with a GenDone
// whose Stop is StopCancelled.
type Cancel struct{}

func (*Cancel) Type() Type                    { return TypeCancel }
func (*Cancel) AppendPayload(b []byte) []byte { return b }
func (*Cancel) UnmarshalPayload([]byte) error { return nil }

// Metrics is a snapshot of the device's resources.
type Metrics struct {
	UptimeUS     uint64 `json:"uptime_us"`
	FreeHeap     uint32 `json:"free_heap"`     // internal RAM free now
	MinFreeHeap  uint32 `json:"min_free_heap"` // lowest FreeHeap since boot
	LargestFree  uint32 `json:"largest_free"`  // largest allocatable internal block
	PSRAMFree    uint32 `json:"psram_free"`
	PSRAMMinFree uint32 `json:"psram_min_free"`
	CPULoad      uint16 `json:"cpu_load_permille"` // thousandths of one core, averaged since the last snapshot
	HasPower     bool   `json:"has_power"`         // the power fields are measured (CapPower)
	PowerUW      uint32 `json:"power_uw"`          // microwatts
	VoltageMV    uint16 `json:"voltage_mv"`        // millivolts
	CurrentUA    uint32 `json:"current_ua"`        // microamperes
}

func (*Metrics) Type() Type { return TypeMetrics }
func (m *Metrics) AppendPayload(b []byte) []byte {
	w := writer{b}
	w.u64(m.UptimeUS)
	w.u32(m.FreeHeap)
	w.u32(m.MinFreeHeap)
	w.u32(m.LargestFree)
	w.u32(m.PSRAMFree)
	w.u32(m.PSRAMMinFree)
	w.u16(m.CPULoad)
	if m.HasPower {
		w.u8(1)
	} else {
		w.u8(0)
	}
	w.u32(m.PowerUW)
	w.u16(m.VoltageMV)
	w.u32(m.CurrentUA)
	return w.b
}
func (m *Metrics) UnmarshalPayload(p []byte) error {
	r := reader{b: p}
	m.UptimeUS, m.FreeHeap, m.MinFreeHeap, m.LargestFree = r.u64(), r.u32(), r.u32(), r.u32()
	m.PSRAMFree, m.PSRAMMinFree, m.CPULoad = r.u32(), r.u32(), r.u16()
	m.HasPower = r.u8()&1 != 0
	m.PowerUW, m.VoltageMV, m.CurrentUA = r.u32(), r.u16(), r.u32()
	return r.err
}

// Log is a line the firmware logged, with its device timestamp.
type Log struct {
	Level  LogLevel
	TimeUS uint64
	Text   string
}

func (*Log) Type() Type { return TypeLog }
func (m *Log) AppendPayload(b []byte) []byte {
	w := writer{b}
	w.u8(uint8(m.Level))
	w.u64(m.TimeUS)
	w.str(m.Text)
	return w.b
}
func (m *Log) UnmarshalPayload(p []byte) error {
	r := reader{b: p}
	m.Level, m.TimeUS, m.Text = LogLevel(r.u8()), r.u64(), r.str()
	return r.err
}

// Code is an error code in an Error message.
type Code uint8

// Error codes.
const (
	CodeOutOfMemory       Code = 1
	CodeModelTooLarge     Code = 2
	CodeBadChecksum       Code = 3
	CodeUnsupportedFormat Code = 4
	CodeBusy              Code = 5
	CodeUnknownCommand    Code = 6
	CodeBadFrame          Code = 7 // a received frame failed its CRC or framing; resend
	CodeBadRequest        Code = 8 // a request's payload or order is wrong
	CodeNoModel           Code = 9 // Generate before a model was loaded
)

var codeNames = map[Code]string{
	CodeOutOfMemory: "out of memory", CodeModelTooLarge: "model too large",
	CodeBadChecksum: "bad checksum", CodeUnsupportedFormat: "unsupported format",
	CodeBusy: "busy", CodeUnknownCommand: "unknown command", CodeBadFrame: "bad frame",
	CodeBadRequest: "bad request", CodeNoModel: "no model loaded",
}

func (c Code) String() string {
	if n, ok := codeNames[c]; ok {
		return n
	}
	return fmt.Sprintf("error code %d", uint8(c))
}

// Error reports that the device could not do what a request asked.
type Error struct {
	Code    Code
	Request Type // the request's type, 0 if unknown
	Text    string
}

func (*Error) Type() Type { return TypeError }
func (m *Error) AppendPayload(b []byte) []byte {
	w := writer{b}
	w.u8(uint8(m.Code))
	w.u8(uint8(m.Request))
	w.str(m.Text)
	return w.b
}
func (m *Error) UnmarshalPayload(p []byte) error {
	r := reader{b: p}
	m.Code, m.Request, m.Text = Code(r.u8()), Type(r.u8()), r.str()
	return r.err
}

func (m *Error) Error() string {
	// Firmware often sends its code's own words as the text; saying them
	// twice ("no model loaded: no model loaded") says nothing more.
	if m.Text == "" || strings.EqualFold(strings.TrimSpace(m.Text), m.Code.String()) {
		return fmt.Sprintf("device: %v", m.Code)
	}
	return fmt.Sprintf("device: %v: %s", m.Code, m.Text)
}
