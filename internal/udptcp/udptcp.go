// Package udptcp opens a UDP socket and a TCP listener on one port, as a
// SIP server (RFC 3261 section 18.2.1) and a HEP collector must: peers
// reach the same port over either transport.
package udptcp

import (
	"errors"
	"fmt"
	"net"
	"strings"
	"syscall"
)

// pickTries bounds the search for a free pair when the kernel picks the
// port: each try fails only if the TCP twin of a fresh UDP port is taken.
const pickTries = 32

// Listen opens UDP and TCP on addr; network is "udp", "udp4" or "udp6".
// With port 0 the kernel picks the UDP port, and its TCP twin may already
// be taken (an outgoing TCP connection may hold it as its ephemeral
// source port), so Listen tries other ports rather than failing or
// listening on two different ones.
func Listen(network, addr string) (*net.UDPConn, net.Listener, error) {
	tcpNetwork := "tcp" + strings.TrimPrefix(network, "udp")
	local, err := net.ResolveUDPAddr(network, addr)
	if err != nil {
		return nil, nil, fmt.Errorf("listen %s: %w", addr, err)
	}
	tries := 1
	if local.Port == 0 {
		tries = pickTries
	}
	for ; ; tries-- {
		udp, err := net.ListenUDP(network, local)
		if err != nil {
			return nil, nil, fmt.Errorf("listen udp %s: %w", addr, err)
		}
		tcp, err := net.Listen(tcpNetwork, udp.LocalAddr().String())
		if err == nil {
			return udp, tcp, nil
		}
		udp.Close()
		if tries <= 1 || !errors.Is(err, syscall.EADDRINUSE) {
			return nil, nil, fmt.Errorf("listen tcp %s: %w", udp.LocalAddr(), err)
		}
	}
}
