package conformance

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"

	"github.com/tinyprof/tinyprof/firmware"
)

func checkHello(ctx context.Context, s *session) error {
	info, err := expect[*firmware.Info](ctx, s, &firmware.Hello{ProtocolVersion: firmware.ProtocolVersion, MaxPayload: firmware.DefaultMaxPayload})
	if err != nil {
		return err
	}
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if info.ProtocolVersion != firmware.ProtocolVersion {
		return fmt.Errorf("INFO protocol_version %d, want %d", info.ProtocolVersion, firmware.ProtocolVersion)
	}
	if info.Firmware == "" || info.Platform == "" || info.Chip == "" {
		bad("INFO firmware %q, platform %q, chip %q: none may be empty", info.Firmware, info.Platform, info.Chip)
	}
	if info.CPUMHz == 0 || info.SRAM == 0 {
		bad("INFO cpu_mhz %d, sram %d: both must be set", info.CPUMHz, info.SRAM)
	}
	if info.MaxPayload < 64 || info.MaxPayload > firmware.MaxPayloadLimit {
		bad("INFO max_payload %d outside 64…%d", info.MaxPayload, firmware.MaxPayloadLimit)
	}
	s.info = info
	s.boot = info.BootID
	s.maxPayload = max(64, min(firmware.DefaultMaxPayload, int(info.MaxPayload)))

	again, err := expect[*firmware.Info](ctx, s, &firmware.Hello{ProtocolVersion: firmware.ProtocolVersion, MaxPayload: firmware.DefaultMaxPayload})
	switch {
	case err != nil:
		bad("second HELLO: %w", err)
	case again.BootID != info.BootID:
		bad("boot_id changed between two HELLOs: %#x, %#x", info.BootID, again.BootID)
	}
	return errors.Join(errs...)
}

// ping sends data in a PING and requires the PONG to echo it.
func ping(ctx context.Context, s *session, data []byte) error {
	pong, err := expect[*firmware.Pong](ctx, s, &firmware.Ping{Data: data})
	if err != nil {
		return err
	}
	if !bytes.Equal(pong.Data, data) {
		return fmt.Errorf("PONG of a %d-byte PING carries %d different bytes", len(data), len(pong.Data))
	}
	return nil
}

func checkPing(ctx context.Context, s *session) error {
	full := make([]byte, s.maxPayload)
	for i := range full {
		if i%300 < 280 { // runs longer than 254 bytes exercise COBS's 0xFF code
			full[i] = byte(i%255) + 1
		}
	}
	var errs []error
	for _, data := range [][]byte{nil, {0}, {0, 0, 0, 1, 0, 0xFF}, []byte("hello"), full} {
		if err := ping(ctx, s, data); err != nil {
			errs = append(errs, fmt.Errorf("%d bytes: %w", len(data), err))
		}
	}
	return errors.Join(errs...)
}

// rawRequest is a frame of a type package firmware does not define.
type rawRequest struct{ typ firmware.Type }

func (r rawRequest) Type() firmware.Type           { return r.typ }
func (rawRequest) AppendPayload(b []byte) []byte   { return append(b, 1, 2, 3) }
func (rawRequest) UnmarshalPayload(p []byte) error { return nil }

func checkUnknown(ctx context.Context, s *session) error {
	var errs []error
	for _, t := range []firmware.Type{0x09, 0x0C, 0x7F} {
		if err := expectError(ctx, s, rawRequest{t}, firmware.CodeUnknownCommand); err != nil {
			errs = append(errs, fmt.Errorf("type %#02x: %w", uint8(t), err))
		}
	}
	return errors.Join(errs...)
}

func checkBadFrame(ctx context.Context, s *session) error {
	s.allowBadFrame = true
	defer func() { s.allowBadFrame = false }()
	wire := firmware.Encode(s.nextSeq(), &firmware.Ping{Data: []byte("corrupt me")})
	i := len(wire) - 4 // a CRC byte
	if wire[i] ^= 0x01; wire[i] == 0 {
		wire[i] = 0x02
	}
	n := s.badFrames
	if err := s.write(wire); err != nil {
		return err
	}
	var errs []error
	if err := s.waitBadFrame(ctx, n); err != nil {
		errs = append(errs, err)
	}
	if err := ping(ctx, s, []byte("after a bad frame")); err != nil {
		errs = append(errs, fmt.Errorf("device does not answer after a bad frame: %w", err))
	}
	return errors.Join(errs...)
}

func checkNoise(ctx context.Context, s *session) error {
	s.allowBadFrame = true
	defer func() { s.allowBadFrame = false }()
	rng := rand.New(rand.NewPCG(1, 2))
	noise := make([]byte, 2000)
	for i := range noise {
		noise[i] = byte(rng.Uint32())
	}
	cut := firmware.Encode(s.nextSeq(), &firmware.Ping{Data: []byte("cut short")})
	long := bytes.Repeat([]byte{0xFE}, firmware.MaxPayloadLimit+1024)
	parts := [][]byte{
		noise,
		[]byte("ets Jun  8 2016 00:22:57\r\nrst:0x1 (POWERON_RESET)\r\n"),
		{0, 0, 0, 0},
		cut[:len(cut)/2],
		{0},
		long,
		{0},
	}
	var errs []error
	for _, p := range parts {
		if err := s.write(p); err != nil {
			return err
		}
	}
	if err := ping(ctx, s, []byte("after noise")); err != nil {
		errs = append(errs, fmt.Errorf("device does not answer after noise, a cut frame and an over-long block: %w", err))
	}
	return errors.Join(errs...)
}

func checkMetrics(ctx context.Context, s *session) error {
	a, err := expect[*firmware.Metrics](ctx, s, &firmware.GetMetrics{})
	if err != nil {
		return err
	}
	b, err := expect[*firmware.Metrics](ctx, s, &firmware.GetMetrics{})
	if err != nil {
		return err
	}
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if a.UptimeUS == 0 || b.UptimeUS < a.UptimeUS {
		bad("uptime_us went %d → %d, want positive and monotonic", a.UptimeUS, b.UptimeUS)
	}
	for _, m := range []*firmware.Metrics{a, b} {
		if m.MinFreeHeap > m.FreeHeap || m.LargestFree > m.FreeHeap {
			bad("free_heap %d, min_free_heap %d, largest_free_block %d: neither may exceed free_heap", m.FreeHeap, m.MinFreeHeap, m.LargestFree)
		}
		if m.PSRAMMinFree > m.PSRAMFree {
			bad("psram_min_free %d exceeds psram_free %d", m.PSRAMMinFree, m.PSRAMFree)
		}
		if m.CPULoad > 1000 {
			bad("cpu_load %d‰ over 1000", m.CPULoad)
		}
		if m.HasPower && s.info != nil && !s.info.Capabilities.Power() {
			bad("METRICS reports power but INFO lacks the power capability")
		}
	}
	return errors.Join(errs...)
}
