//go:build !linux

package sockbuf

import "net"

// GrowReadBuffer asks for a larger receive buffer (see the Linux version).
func GrowReadBuffer(c *net.UDPConn, size int) { c.SetReadBuffer(size) }
