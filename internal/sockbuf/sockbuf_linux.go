//go:build linux

// Package sockbuf asks for large UDP receive buffers, past the system's
// limit where the process may, for the sockets that take bursts: the SIP
// server's and capture --hep's.
package sockbuf

import (
	"net"

	"golang.org/x/sys/unix"
)

// GrowReadBuffer enlarges a UDP socket's receive buffer so bursts (and
// garbage-collection pauses) at thousands of datagrams per second queue
// instead of being dropped. SO_RCVBUFFORCE passes net.core.rmem_max when
// running with CAP_NET_ADMIN; otherwise SO_RCVBUF gets what the limit
// allows. Kamailio probes its buffer up the same way.
func GrowReadBuffer(c *net.UDPConn, size int) {
	rc, err := c.SyscallConn()
	if err != nil {
		return
	}
	rc.Control(func(fd uintptr) {
		if unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, size) != nil {
			unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUF, size)
		}
	})
}
