//go:build linux

package proxy

import (
	"net"

	"golang.org/x/sys/unix"
)

// growReadBuffer enlarges the SIP socket's receive buffer so bursts (and
// garbage-collection pauses) at thousands of requests per second queue
// instead of being dropped. SO_RCVBUFFORCE passes net.core.rmem_max when
// running with CAP_NET_ADMIN; otherwise SO_RCVBUF gets what the limit
// allows. Kamailio probes its buffer up the same way.
func growReadBuffer(c *net.UDPConn, size int) {
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
