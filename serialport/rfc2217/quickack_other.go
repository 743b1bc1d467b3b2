//go:build !linux

package rfc2217

import "net"

// quickAck does nothing where TCP_QUICKACK does not exist.
func quickAck(net.Conn) {}
