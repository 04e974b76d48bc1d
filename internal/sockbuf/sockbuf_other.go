//go:build !linux

package proxy

import "net"

// growReadBuffer asks for a larger receive buffer (see the Linux version).
func growReadBuffer(c *net.UDPConn, size int) { c.SetReadBuffer(size) }
