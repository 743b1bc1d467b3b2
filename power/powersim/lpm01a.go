package powersim

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tinyprof/tinyprof/internal/pty"
	"github.com/tinyprof/tinyprof/power"
	"github.com/tinyprof/tinyprof/power/lpm01a"
)

// LPM01AOptions configure a simulated PowerShield. Fields may not change
// after start.
type LPM01AOptions struct {
	// Waveform is the device under test; bit 0 of its Logic is the D7
	// event input. Default a constant 1 mA.
	Waveform power.Waveform
	// Version is what "version" answers; default "1.0.6".
	Version string
	// Paced streams at the configured rate on the wall clock; otherwise
	// as fast as the reader takes samples, with the same sample times.
	Paced bool
	// DropEvery drops one sample in every DropEvery from the stream (the
	// once-a-second TimeStamp lines still count them); 0 drops none.
	DropEvery int
	// SilentAfter stops the meter after that many samples: nothing more
	// is sent and commands are ignored; 0 never.
	SilentAfter int64
	// Refuse maps a command word ("volt", "freq", "eventsrc") to the
	// "Error detail" the meter answers it with.
	Refuse map[string]string
	// Mute never answers anything.
	Mute bool
}

// LPM01A is a simulated PowerShield behind a pseudo-terminal.
type LPM01A struct {
	// Path is the pty a driver opens.
	Path string

	opts LPM01AOptions
	pair *pty.Pair

	mu       sync.Mutex
	commands []string
	cfg      lpmConfig
	running  bool
	silent   bool
	stopReq  chan struct{}
	done     chan struct{}

	wg   sync.WaitGroup
	once sync.Once
}

type lpmConfig struct {
	rate   int
	binary bool
	edge   string // "" events off, "ris", "fal"
}

// StartLPM01A starts a simulated PowerShield and closes it when the test
// ends.
func StartLPM01A(tb testing.TB, opts LPM01AOptions) *LPM01A {
	tb.Helper()
	m, err := ListenLPM01A(opts)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(m.Close)
	return m
}

// ListenLPM01A starts a simulated PowerShield. The caller must Close it.
func ListenLPM01A(opts LPM01AOptions) (*LPM01A, error) {
	if opts.Waveform == nil {
		opts.Waveform = power.Constant(1e-3)
	}
	if opts.Version == "" {
		opts.Version = "1.0.6"
	}
	p, err := pty.Open()
	if err != nil {
		return nil, err
	}
	m := &LPM01A{Path: p.Path, opts: opts, pair: p, cfg: lpmConfig{rate: 100}}
	m.wg.Add(1)
	go m.serve()
	return m, nil
}

// Close stops the meter and waits for its goroutines.
func (m *LPM01A) Close() {
	m.once.Do(func() {
		m.pair.Close()
		m.stopStream()
		m.wg.Wait()
	})
}

// Commands returns every command line received so far.
func (m *LPM01A) Commands() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]string(nil), m.commands...)
}

func (m *LPM01A) serve() {
	defer m.wg.Done()
	buf := make([]byte, 256)
	var pending []byte
	for {
		n, err := m.pair.Master.Read(buf)
		if err != nil {
			return
		}
		pending = append(pending, buf[:n]...)
		for {
			i := bytes.IndexByte(pending, '\n')
			if i < 0 {
				if len(pending) > 1024 {
					pending = pending[:0]
				}
				break
			}
			line := strings.TrimSpace(string(pending[:i]))
			pending = pending[i+1:]
			if line != "" {
				m.handle(line)
			}
		}
	}
}

func (m *LPM01A) reply(s string) { m.pair.Master.Write([]byte(s)) }

func (m *LPM01A) ack(line, value string) {
	if value != "" {
		line += " " + value
	}
	m.reply("\r\nPowerShield > ack " + line + "\r\n\r\n")
}

func (m *LPM01A) refuse(line, detail string) {
	m.reply("\r\nPowerShield > error " + line + "\r\n\r\nPowerShield > Error detail: " + detail + "\r\n\r\n")
}

func (m *LPM01A) handle(line string) {
	m.mu.Lock()
	if m.silent || m.opts.Mute {
		m.mu.Unlock()
		return
	}
	m.commands = append(m.commands, line)
	m.mu.Unlock()
	f := strings.Fields(line)
	if d, ok := m.opts.Refuse[f[0]]; ok {
		m.refuse(line, d)
		return
	}
	switch f[0] {
	case "version":
		m.ack(line, m.opts.Version)
	case "powershield":
		m.ack(line, "PowerShield present SIM00001")
	case "freq":
		hz, err := parseRate(arg(f, 1))
		if err != nil {
			m.refuse(line, err.Error())
			return
		}
		m.mu.Lock()
		m.cfg.rate = hz
		m.mu.Unlock()
		m.ack(line, "")
	case "volt":
		mv, err := strconv.Atoi(strings.TrimSuffix(arg(f, 1), "m"))
		if err != nil || mv < 1800 || mv > 3300 {
			m.refuse(line, "voltage out of range [1800m; 3300m]")
			return
		}
		m.ack(line, "")
	case "format":
		m.mu.Lock()
		m.cfg.binary = arg(f, 1) == "bin_hexa"
		m.mu.Unlock()
		m.ack(line, "")
	case "eventsrc":
		m.mu.Lock()
		m.cfg.edge = arg(f, 2)
		m.mu.Unlock()
		m.ack(line, "")
	case "start":
		m.ack(line, "")
		m.mu.Lock()
		if !m.running {
			m.running = true
			m.stopReq, m.done = make(chan struct{}), make(chan struct{})
			m.wg.Add(1)
			go m.stream(m.stopReq, m.done, m.cfg)
		}
		m.mu.Unlock()
	case "stop":
		m.stopStream()
		m.reply("\r\nPowerShield > ack stop\r\n\r\nPowerShield > Acquisition completed\r\n\r\n")
	default:
		m.ack(line, "")
	}
}

// stopStream stops the stream and waits until it has written its last
// bytes, so that "Acquisition completed" follows every sample.
func (m *LPM01A) stopStream() {
	m.mu.Lock()
	if !m.running {
		m.mu.Unlock()
		return
	}
	m.running = false
	close(m.stopReq)
	done := m.done
	m.mu.Unlock()
	<-done
}

func arg(f []string, i int) string {
	if i < len(f) {
		return f[i]
	}
	return ""
}

func parseRate(s string) (int, error) {
	mult := 1
	if strings.HasSuffix(s, "k") {
		s, mult = strings.TrimSuffix(s, "k"), 1000
	}
	n, err := strconv.Atoi(s)
	hz := n * mult
	for _, r := range lpm01a.Rates {
		if err == nil && r == hz {
			return hz, nil
		}
	}
	return 0, fmt.Errorf("frequency %q not in list", s)
}

func (m *LPM01A) stream(stop, done chan struct{}, cfg lpmConfig) {
	defer m.wg.Done()
	defer close(done)
	chunk := max(cfg.rate/200, 1) // 5 ms of samples per write
	began := time.Now()
	var out []byte
	var index, events int64
	prevLogic := uint8(0)
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
				m.pair.Master.Write(out)
				<-stop
				return
			}
			if index > 0 && index%int64(cfg.rate) == 0 {
				ts := fmt.Sprintf("TimeStamp: %03ds %03dms, buff 00%%", index/int64(cfg.rate), 0)
				if cfg.binary {
					out = append(append(append(out, 0xF0), ts...), 0xFF, 0xFF)
				} else {
					out = append(out, ts+"\r\n"...)
				}
			}
			t := time.Duration(float64(index) * float64(time.Second) / float64(cfg.rate))
			r := m.opts.Waveform(t)
			logic := r.Logic & 1
			if !cfg.binary && cfg.edge != "" && logic != prevLogic && (logic == 1) == (cfg.edge == "ris") {
				events++
				out = append(out, fmt.Sprintf("event %02d %s\r\n", events%100, cfg.edge)...)
			}
			prevLogic = logic
			if m.opts.DropEvery <= 0 || (index+1)%int64(m.opts.DropEvery) != 0 {
				if cfg.binary {
					w := lpm01a.FormatBinary(float64(r.Current))
					out = append(out, byte(w>>8), byte(w))
				} else {
					out = append(out, lpm01a.FormatASCII(float64(r.Current))+"\r\n"...)
				}
			}
			index++
		}
		if m.opts.Paced {
			due := began.Add(time.Duration(float64(index) * float64(time.Second) / float64(cfg.rate)))
			if d := time.Until(due); d > 0 {
				select {
				case <-stop:
					return
				case <-time.After(d):
				}
			}
		}
		if _, err := m.pair.Master.Write(out); err != nil {
			return
		}
	}
}
