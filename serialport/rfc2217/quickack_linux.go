package rfc2217

import (
	"net"

	"golang.org/x/sys/unix"
)

// quickAck asks Linux to acknowledge the segments received so far at once
// rather than after the delayed-ACK timer (40 ms). A server that writes
// one answer in two small segments with Nagle's algorithm on — ser2net
// does, when it reads a frame from the serial port in two pieces — holds
// the second until the first is acknowledged, so without this every
// request/response exchange can cost the delayed-ACK time. Linux clears
// the flag by itself, so it is set again after every read.
func quickAck(nc net.Conn) {
	tc, ok := nc.(*net.TCPConn)
	if !ok {
		return
	}
	rc, err := tc.SyscallConn()
	if err != nil {
		return
	}
	_ = rc.Control(func(fd uintptr) {
		_ = unix.SetsockoptInt(int(fd), unix.IPPROTO_TCP, unix.TCP_QUICKACK, 1)
	})
}
