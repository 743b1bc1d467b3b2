package device_test

import (
	"bytes"
	"context"
	"errors"
	"testing"
	"time"

	"github.com/tinyprof/tinyprof/device"
	"github.com/tinyprof/tinyprof/device/devicetest"
	"github.com/tinyprof/tinyprof/firmware"
)

// FuzzClient drives the client's state machine (hello, ping, upload,
// generation with memory reads, metrics, retries) against a scripted
// board whose every answer the fuzzer's bytes choose: honest, lost,
// doubled, corrupted, cut short, misnumbered, a lie, a reboot or noise.
// Every call must end, before the input's deadline, in a result or a
// *device.Error; a generation the client accepts must be whole; and the
// board and client goroutines must all stop (goleak in TestMain).
func FuzzClient(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte{0, 0, 0, 0, 0, 0, 0, 0})
	f.Add([]byte{1, 4, 0, 5, 0, 6, 9, 0, 7, 3, 0, 8, 0, 2})
	f.Add([]byte{2, 0, 0, 4, 4, 4, 0, 9, 200, 13, 0, 11, 10})
	f.Add(bytes.Repeat([]byte{3, 6, 17}, 30))
	model := bytes.Repeat([]byte("fuzzed model "), 300)
	f.Fuzz(func(t *testing.T, data []byte) {
		pos := 0
		next := func() byte {
			if pos >= len(data) {
				return 0 // past the input: honest from here on
			}
			pos++
			return data[pos-1]
		}
		popts := devicetest.PipeOptions{}
		sampleEvery := time.Duration(0)
		if len(data) > 0 {
			if data[0]&1 != 0 {
				popts.ReadTimeout = 2 * time.Millisecond
			}
			if data[0]&2 != 0 {
				sampleEvery = time.Microsecond
			}
			pos = 1
		}
		h := devicetest.NewHonest()
		h.TokenUS = 1000
		script := func(r devicetest.Request) []devicetest.Send {
			out := h.Answer(r)
			return mangle(out, next)
		}
		host, boardEnd := devicetest.Pipe(popts)
		board := devicetest.NewBoard(boardEnd, script, nil)
		d := device.New(host, device.Options{Timeout: 10 * time.Millisecond, PrefillTimeout: 30 * time.Millisecond, Retries: 2})
		defer func() {
			d.Close()
			board.Close()
		}()

		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		check := func(what string, err error) {
			t.Helper()
			if err == nil {
				return
			}
			var de *device.Error
			if !errors.As(err, &de) {
				t.Fatalf("%s: %T is not a *device.Error: %v", what, err, err)
			}
			if ctx.Err() != nil {
				t.Fatalf("%s: ran into the input's deadline: %v", what, err)
			}
		}
		_, err := d.Hello(ctx)
		check("hello", err)
		_, err = d.Ping(ctx, []byte("fuzz"))
		check("ping", err)
		_, err = d.LoadModel(ctx, bytes.NewReader(model), int64(len(model)), device.LoadOptions{ChunkSize: 512})
		check("load", err)
		g, err := d.Generate(ctx, device.GenerateRequest{MaxTokens: 40, Seed: 3, SampleEvery: sampleEvery})
		check("generate", err)
		if err == nil {
			if int(g.Summary.Tokens) != len(g.Tokens) {
				t.Fatalf("accepted a generation of %d tokens whose summary says %d", len(g.Tokens), g.Summary.Tokens)
			}
			_ = g.Problems(d.Info(), device.Envelope{}) // must not panic on any figures
		}
		m, err := d.Metrics(ctx)
		check("metrics", err)
		if err == nil {
			_ = device.MetricsProblems(*m, d.Info(), device.Envelope{})
		}
	})
}

// mangle rewrites a scripted board's answer as the fuzzer's next byte
// says; past the input's end every answer is honest.
func mangle(out []devicetest.Send, next func() byte) []devicetest.Send {
	wire := func() []byte {
		var b []byte
		for _, s := range out {
			if s.Msg != nil {
				b = firmware.AppendFrame(b, firmware.Frame{Type: s.Msg.Type(), Seq: s.Seq, Payload: s.Msg.AppendPayload(nil)})
			}
		}
		return b
	}
	switch next() % 14 {
	case 4: // lost
		return nil
	case 5: // doubled
		return append(out, out...)
	case 6: // a byte flipped
		b := wire()
		if len(b) > 0 {
			i := int(next()) % len(b)
			b[i] ^= 1 << (next() % 8)
		}
		return []devicetest.Send{{Raw: b}}
	case 7: // cut short: the rest never comes
		b := wire()
		return []devicetest.Send{{Raw: b[:int(next())%(len(b)+1)]}}
	case 8: // misnumbered
		for i := range out {
			out[i].Seq += uint16(next())
		}
		return out
	case 9: // a lie in the first message's figures
		if len(out) > 0 {
			lie(out[0].Msg, next)
		}
		return out
	case 10: // the board rebooted
		return append(out, devicetest.Send{Msg: &firmware.Info{ProtocolVersion: firmware.ProtocolVersion, Platform: "scripted",
			MaxPayload: firmware.DefaultMaxPayload, BootID: uint32(next()) + 1}})
	case 11: // noise before the answer
		return append([]devicetest.Send{{Raw: []byte{next(), next(), 0, next(), next(), next()}}}, out...)
	case 12: // an answer's closing delimiter lost
		b := wire()
		if len(b) > 0 {
			b = b[:len(b)-1]
		}
		return []devicetest.Send{{Raw: b}}
	case 13: // a report that the host's frame was corrupted
		return append([]devicetest.Send{{Msg: &firmware.Error{Code: firmware.CodeBadFrame, Text: "bad frame"}}}, out...)
	}
	return out
}

// lie changes one figure of m to a value the fuzzer chooses.
func lie(m firmware.Message, next func() byte) {
	v := uint32(next())<<24 | uint32(next())<<8 | uint32(next())
	switch m := m.(type) {
	case *firmware.ModelAck:
		m.Offset, m.ChunkSize, m.Window = v, uint16(v), uint8(v)
	case *firmware.Tokens:
		m.Index = uint16(v)
		if len(m.Tokens) > 0 {
			m.Tokens[0].TimeUS = uint64(v)
		}
	case *firmware.GenDone:
		m.Tokens, m.DecodeUS, m.TTFTUS, m.PeakHeap = uint16(v), v, v>>3, v
	case *firmware.Metrics:
		m.FreeHeap, m.PowerUW, m.HasPower = v, v, v&1 != 0
	case *firmware.ModelDone:
		m.Region, m.Bytes = firmware.Region(v), v
		m.SHA256[0] ^= byte(v)
	case *firmware.Info:
		m.MaxPayload, m.ProtocolVersion = uint16(v), uint8(v>>24)
	case *firmware.Pong:
		m.Data = append(m.Data, byte(v))
	}
}
