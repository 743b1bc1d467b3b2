package device

import (
	"bytes"
	"context"
	"fmt"
	"time"

	"github.com/tinyprof/tinyprof/firmware"
)

// Hello opens the session: it checks the board speaks this protocol version
// and records what it reports. Call it before any other request.
func (d *Device) Hello(ctx context.Context) (*firmware.Info, error) {
	c := d.beginResync()
	m, err := d.exchange(ctx, c, "hello", &firmware.Hello{ProtocolVersion: firmware.ProtocolVersion, MaxPayload: uint16(d.opts.MaxPayload)}, firmware.TypeInfo, 0)
	d.end(c)
	if err != nil {
		return nil, err
	}
	info := m.(*firmware.Info)
	if info.ProtocolVersion != firmware.ProtocolVersion {
		return nil, d.errorf("hello", CodeVersion,
			fmt.Errorf("board speaks protocol version %d, this host speaks %d", info.ProtocolVersion, firmware.ProtocolVersion),
			"update the firmware or tiny-profiler so that both speak the same version")
	}
	d.boot.Store(info.BootID)
	d.mu.Lock()
	d.info = info
	d.mu.Unlock()
	return info, nil
}

// Ping sends data (at most the negotiated payload) and waits for the echo.
// It returns the round-trip time measured on the host.
func (d *Device) Ping(ctx context.Context, data []byte) (time.Duration, error) {
	start := time.Now()
	m, err := d.roundTrip(ctx, "ping", &firmware.Ping{Data: data}, firmware.TypePong)
	if err != nil {
		return 0, err
	}
	if !bytes.Equal(m.(*firmware.Pong).Data, data) {
		return 0, d.errorf("ping", CodeBadResponse, fmt.Errorf("echo differs from what was sent"), "the line corrupts data the CRC did not catch")
	}
	return time.Since(start), nil
}

// Metrics reads the board's resource snapshot.
func (d *Device) Metrics(ctx context.Context) (*firmware.Metrics, error) {
	m, err := d.roundTrip(ctx, "metrics", &firmware.GetMetrics{}, firmware.TypeMetrics)
	if err != nil {
		return nil, err
	}
	return m.(*firmware.Metrics), nil
}

// Reset restarts the board's firmware with a protocol RESET and waits for
// it to announce itself with a new boot id. It returns the new Info.
func (d *Device) Reset(ctx context.Context) (*firmware.Info, error) {
	old := d.boot.Load()
	c := d.beginResync()
	defer d.end(c)
	if err := d.send(ctx, "reset", c.Seq(), &firmware.Reset{}); err != nil {
		return nil, err
	}
	return d.awaitBoot(ctx, c, old, "reset")
}

// HardReset resets the board electrically through its transport (DTR/RTS)
// and waits for it to boot. Transports without reset lines return
// ErrNoResetLines.
func (d *Device) HardReset(ctx context.Context) (*firmware.Info, error) {
	hr, ok := d.tr.(HardResetter)
	if !ok {
		return nil, d.errorf("hard reset", CodeNoResetLines, nil, "this transport cannot reset the board; use Reset")
	}
	old := d.boot.Load()
	c := d.beginResync()
	defer d.end(c)
	if err := hr.HardReset(ctx); err != nil {
		return nil, d.wrap("hard reset", err)
	}
	return d.awaitBoot(ctx, c, old, "hard reset")
}

// awaitBoot waits for an unsolicited Info with a boot id other than old.
// A board boots slower than it answers, so it allows five request timeouts.
func (d *Device) awaitBoot(ctx context.Context, c *call, old uint32, op string) (*firmware.Info, error) {
	deadline := time.Now().Add(5 * d.opts.Timeout)
	for {
		in, err := d.recv(ctx, c, time.Until(deadline))
		if err == errAttemptTimeout {
			return nil, d.errorf(op, CodeTimeout, fmt.Errorf("no boot announcement within %v", 5*d.opts.Timeout),
				"the board did not come back; check its log (debug-device) or power-cycle it")
		}
		if err != nil {
			return nil, d.errorf(op, CodeTimeout, err, "")
		}
		switch {
		case in.closed:
			return nil, d.wrap(op, in.err)
		case in.reset:
			info := in.msg.(*firmware.Info)
			if info.BootID == old {
				continue
			}
			d.info = info // d.mu is held by begin
			return info, nil
		}
		// RESET_ACK, corrupted frames and late answers: keep waiting.
	}
}
