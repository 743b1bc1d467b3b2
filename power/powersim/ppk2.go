package powersim

import (
	"encoding/binary"
	"math"
	"sync"
	"testing"
	"time"

	"github.com/tinyprof/tinyprof/internal/pty"
	"github.com/tinyprof/tinyprof/power"
	"github.com/tinyprof/tinyprof/power/ppk2"
)

// DefaultPPK2Metadata is the metadata block the simulated PPK2 sends: the
// values of a real unit, as quoted in hdoordt/ppk2-rs's test fixture
// (src/measurement.rs), one key per line, ending in END.
const DefaultPPK2Metadata = "Calibrated: 0\nR0: 1003.3506\nR1: 101.5865\nR2: 10.3027\nR3: 0.9636\nR4: 0.0564\n" +
	"GS0: 0.0000\nGS1: 112.7890\nGS2: 18.0115\nGS3: 2.4217\nGS4: 0.0729\n" +
	"GI0: 1.0000\nGI1: 0.9695\nGI2: 0.9609\nGI3: 0.9519\nGI4: 0.9582\n" +
	"O0: 112.9420\nO1: 75.4627\nO2: 64.6020\nO3: 50.4983\nO4: 87.2177\n" +
	"VDD: 3741\nHW: 9173\nmode: 2\n" +
	"S0: 0.000000048\nS1: 0.000000596\nS2: 0.000005281\nS3: 0.000062577\nS4: 0.002940743\n" +
	"I0: -0.000000104\nI1: -0.000001443\nI2: 0.000036439\nI3: -0.000374119\nI4: -0.009388455\n" +
	"UG0: 1.00\nUG1: 1.00\nUG2: 1.00\nUG3: 1.00\nUG4: 1.00\nIA: 56\nEND\n"

// PPK2Options configure a simulated PPK2. Fields may not change after
// start.
type PPK2Options struct {
	// Waveform is the device under test; default a constant 10 mA.
	Waveform power.Waveform
	// Metadata is the block sent for GetMetadata; default
	// DefaultPPK2Metadata. Set it to something else to simulate a
	// corrupt calibration or another protocol.
	Metadata string
	// Paced streams samples at the real rate (100 kS/s on the wall
	// clock); otherwise as fast as the reader takes them, with the same
	// sample times.
	Paced bool
	// DropEvery drops one sample in every DropEvery (its counter value is
	// skipped, as when USB loses a packet); 0 drops none.
	DropEvery int
	// SilentAfter stops the meter after that many samples: it sends
	// nothing more and ignores every command; 0 never.
	SilentAfter int64
	// Mute never answers anything, as a port with no PPK2 behind it.
	Mute bool
}

// PPK2 is a simulated PPK2 behind a pseudo-terminal.
type PPK2 struct {
	// Path is the pty a driver opens, e.g. /dev/pts/3.
	Path string

	opts PPK2Options
	cal  ppk2.Calibration
	pair *pty.Pair

	mu       sync.Mutex
	commands [][]byte
	supply   int // mV
	running  bool
	silent   bool
	stopReq  chan struct{}
	sent     int64

	wg   sync.WaitGroup
	once sync.Once
}

// StartPPK2 starts a simulated PPK2 and closes it when the test ends. It
// fails the test if the pty cannot be opened.
func StartPPK2(tb testing.TB, opts PPK2Options) *PPK2 {
	tb.Helper()
	m, err := ListenPPK2(opts)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(m.Close)
	return m
}

// ListenPPK2 starts a simulated PPK2. The caller must Close it.
func ListenPPK2(opts PPK2Options) (*PPK2, error) {
	if opts.Waveform == nil {
		opts.Waveform = power.Constant(10e-3)
	}
	if opts.Metadata == "" {
		opts.Metadata = DefaultPPK2Metadata
	}
	cal, err := ppk2.ParseCalibration([]byte(DefaultPPK2Metadata))
	if err != nil {
		return nil, err
	}
	if c, err := ppk2.ParseCalibration([]byte(opts.Metadata)); err == nil {
		cal = c
	}
	p, err := pty.Open()
	if err != nil {
		return nil, err
	}
	m := &PPK2{Path: p.Path, opts: opts, cal: cal, pair: p, supply: cal.VDD}
	m.wg.Add(1)
	go m.serve()
	return m, nil
}

// Close stops the meter and waits for its goroutines.
func (m *PPK2) Close() {
	m.once.Do(func() {
		m.pair.Close()
		m.mu.Lock()
		if m.running {
			close(m.stopReq)
			m.running = false
		}
		m.mu.Unlock()
		m.wg.Wait()
	})
}

// Commands returns every command received so far, each as its bytes.
func (m *PPK2) Commands() [][]byte {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([][]byte, len(m.commands))
	copy(out, m.commands)
	return out
}

// Sent returns how many samples the meter has produced (dropped ones
// included).
func (m *PPK2) Sent() int64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.sent
}

// payloadLen is the number of argument bytes after each opcode.
func payloadLen(op byte) int {
	switch op {
	case ppk2.OpDeviceRunning, ppk2.OpSetPowerMode:
		return 1
	case ppk2.OpRegulatorSet:
		return 2
	case 0x25: // SetUserGains: range, float32
		return 5
	}
	return 0
}

func (m *PPK2) serve() {
	defer m.wg.Done()
	buf := make([]byte, 256)
	var pending []byte
	for {
		n, err := m.pair.Master.Read(buf)
		if err != nil {
			return
		}
		pending = append(pending, buf[:n]...)
		for len(pending) > 0 {
			need := 1 + payloadLen(pending[0])
			if len(pending) < need {
				break
			}
			cmd := append([]byte(nil), pending[:need]...)
			pending = pending[need:]
			m.handle(cmd)
		}
	}
}

func (m *PPK2) handle(cmd []byte) {
	m.mu.Lock()
	if m.silent || m.opts.Mute {
		m.mu.Unlock()
		return
	}
	m.commands = append(m.commands, cmd)
	m.mu.Unlock()
	switch cmd[0] {
	case ppk2.OpGetMetadata:
		m.pair.Master.Write([]byte(m.opts.Metadata))
	case ppk2.OpRegulatorSet:
		m.mu.Lock()
		m.supply = int(cmd[1])<<8 | int(cmd[2])
		m.mu.Unlock()
	case ppk2.OpAverageStart:
		m.mu.Lock()
		if !m.running {
			m.running = true
			m.stopReq = make(chan struct{})
			m.wg.Add(1)
			go m.stream(m.stopReq, m.supply)
		}
		m.mu.Unlock()
	case ppk2.OpAverageStop:
		m.mu.Lock()
		if m.running {
			close(m.stopReq)
			m.running = false
		}
		m.mu.Unlock()
	}
}

// stream writes samples until stop is closed.
func (m *PPK2) stream(stop chan struct{}, vddMV int) {
	defer m.wg.Done()
	cal := m.cal
	cal.VDD = vddMV
	const chunk = 500 // 5 ms of samples per write
	out := make([]byte, 0, chunk*4)
	began := time.Now()
	var index int64
	for {
		select {
		case <-stop:
			return
		default:
		}
		out = out[:0]
		for range chunk {
			if m.opts.SilentAfter > 0 && index >= m.opts.SilentAfter {
				m.mu.Lock()
				m.silent = true
				m.mu.Unlock()
				if len(out) > 0 {
					m.pair.Master.Write(out)
				}
				return
			}
			t := time.Duration(index) * ppk2.SamplePeriod
			r := m.opts.Waveform(t)
			if m.opts.DropEvery <= 0 || (index+1)%int64(m.opts.DropEvery) != 0 {
				out = binary.LittleEndian.AppendUint32(out, EncodePPK2(&cal, float64(r.Current), uint8(index&0x3F), r.Logic))
			}
			index++
		}
		m.mu.Lock()
		m.sent = index
		m.mu.Unlock()
		if m.opts.Paced {
			due := began.Add(time.Duration(index) * ppk2.SamplePeriod)
			if d := time.Until(due); d > 0 {
				select {
				case <-stop:
					return
				case <-time.After(d):
				}
			}
		}
		if _, err := m.pair.Master.Write(out); err != nil {
			return // closed: the meter was unplugged
		}
	}
}

// EncodePPK2 returns the sample word a PPK2 with calibration cal would
// send for current amps: the lowest range whose ADC does not saturate,
// the ADC value that decodes closest to amps (inverting the calibration
// formula), the counter and the logic inputs.
func EncodePPK2(cal *ppk2.Calibration, amps float64, counter, logic uint8) uint32 {
	const adcMult = 1.8 / 163840
	for r := 0; r <= 4; r++ {
		y := amps/cal.UG[r] - (cal.S[r]*float64(cal.VDD)/1000 + cal.I[r])
		var x float64
		if cal.GS[r] == 0 {
			x = y / cal.GI[r]
		} else {
			d := cal.GI[r]*cal.GI[r] + 4*cal.GS[r]*y
			if d < 0 {
				d = 0
			}
			x = (-cal.GI[r] + math.Sqrt(d)) / (2 * cal.GS[r])
		}
		adc := x*cal.R[r]/adcMult + cal.O[r]
		field := math.Round(adc / 4)
		if field < 0 {
			field = 0
		}
		// Switch range before the ADC nears full scale, as the PPK2's
		// auto-ranging does.
		if field > 15000 && r < 4 {
			continue
		}
		field = math.Min(field, 1<<14-1)
		return uint32(field) | uint32(r)<<14 | uint32(counter&0x3F)<<18 | uint32(logic)<<24
	}
	return 0
}
