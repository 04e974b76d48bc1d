// Package srcaddr makes a UDP socket bound to every address of a host
// answer each peer from the address that peer sent to.
//
// A socket bound to 0.0.0.0 (or [::]) sends from the address the kernel
// picks for the route to the peer: on a host with several addresses on one
// interface, the primary one. A phone that reached a secondary address
// through a NAT that filters by address (most do) never gets the answer,
// which comes from an address it never sent to. Conn reads the address
// each datagram was sent to (IP_PKTINFO, IPV6_PKTINFO) and sends to that
// peer from it, as a SIP server bound to one address would.
package srcaddr

import (
	"net"
	"net/netip"
	"sync"

	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"
)

// maxPeers bounds the peers remembered: past it the table starts over,
// and a peer's next datagram fills it in again.
const maxPeers = 1 << 16

// oobSize holds one IPv4 or IPv6 packet-info control message.
const oobSize = 128

// Conn is a net.PacketConn over a UDP socket bound to every address that
// sends to each peer from the local address the peer last sent to. A peer
// it has not heard from gets the kernel's choice.
type Conn struct {
	*net.UDPConn
	mu    sync.Mutex
	local map[netip.AddrPort]netip.Addr // peer -> the address it sent to
}

// Wrap asks the kernel for each datagram's destination address on c and
// returns the Conn over it. The error says the kernel refused: c then
// answers from its choice, as before.
func Wrap(c *net.UDPConn) (*Conn, error) {
	err := ipv4.NewPacketConn(c).SetControlMessage(ipv4.FlagDst, true)
	if la, ok := c.LocalAddr().(*net.UDPAddr); ok && la.IP.To4() == nil {
		// A dual-stack socket: IPv4 peers come as IPv4-mapped addresses,
		// with IP_PKTINFO; IPv6 peers with IPV6_PKTINFO.
		if err6 := ipv6.NewPacketConn(c).SetControlMessage(ipv6.FlagDst, true); err6 != nil {
			err = err6
		}
	}
	return &Conn{UDPConn: c, local: map[netip.AddrPort]netip.Addr{}}, err
}

// ReadFrom reads a datagram and notes which local address its sender sent
// it to.
func (c *Conn) ReadFrom(b []byte) (int, net.Addr, error) {
	oob := make([]byte, oobSize)
	n, oobn, _, from, err := c.ReadMsgUDPAddrPort(b, oob)
	if err != nil {
		return n, nil, err
	}
	peer := netip.AddrPortFrom(from.Addr().Unmap(), from.Port())
	if dst := destination(oob[:oobn]); dst.IsValid() && !dst.IsUnspecified() {
		c.mu.Lock()
		if len(c.local) >= maxPeers {
			clear(c.local)
		}
		c.local[peer] = dst
		c.mu.Unlock()
	}
	return n, net.UDPAddrFromAddrPort(from), nil
}

// WriteTo sends b to addr from the local address addr last sent to.
func (c *Conn) WriteTo(b []byte, addr net.Addr) (int, error) {
	ua, ok := addr.(*net.UDPAddr)
	if !ok {
		return c.UDPConn.WriteTo(b, addr)
	}
	to := ua.AddrPort()
	c.mu.Lock()
	src, ok := c.local[netip.AddrPortFrom(to.Addr().Unmap(), to.Port())]
	c.mu.Unlock()
	if !ok {
		return c.UDPConn.WriteTo(b, addr)
	}
	n, _, err := c.WriteMsgUDPAddrPort(b, sourceMessage(src), to)
	return n, err
}

// destination is the destination address a datagram's control messages
// name (invalid: none).
func destination(oob []byte) netip.Addr {
	if len(oob) == 0 {
		return netip.Addr{}
	}
	var cm4 ipv4.ControlMessage
	if cm4.Parse(oob) == nil && cm4.Dst != nil {
		if a, ok := netip.AddrFromSlice(cm4.Dst); ok {
			return a.Unmap()
		}
	}
	var cm6 ipv6.ControlMessage
	if cm6.Parse(oob) == nil && cm6.Dst != nil {
		if a, ok := netip.AddrFromSlice(cm6.Dst); ok {
			return a.Unmap()
		}
	}
	return netip.Addr{}
}

// sourceMessage is the control message that sends from src.
func sourceMessage(src netip.Addr) []byte {
	if src.Is4() {
		return (&ipv4.ControlMessage{Src: src.AsSlice()}).Marshal()
	}
	return (&ipv6.ControlMessage{Src: src.AsSlice()}).Marshal()
}
