//go:build linux

package main

import (
	"net"

	"golang.org/x/sys/unix"
)

// forceBuffers sets large socket buffers past net.core.{r,w}mem_max (root),
// so the load generator's own sockets are not where packets get lost.
func forceBuffers(c *net.UDPConn, size int) {
	rc, err := c.SyscallConn()
	if err != nil {
		return
	}
	rc.Control(func(fd uintptr) {
		unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, size)
		unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_SNDBUFFORCE, size)
	})
}
