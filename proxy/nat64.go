package proxy

import (
	"net/netip"
	"strings"
	"sync"

	"github.com/emiago/sipgo/sip"
)

// Phones on IPv6 alone (mobile networks) reach an IPv4 server through
// NAT64 (RFC 6146): they address it at an IPv6 address of the NAT64
// prefix with its IPv4 address in the last 32 bits (RFC 6052), and the
// server sees their packets come from the NAT64's IPv4 address. Such a
// phone cannot send to an IPv4 address the server names to it (its
// Record-Route, Via, or the relay's SDP c=): its ACK, its BYE and its
// media would have nowhere to go. So it is given the server's address in
// its own prefix instead, and they take the way its REGISTER and INVITE
// took; the relay sees the media come from the NAT64's mapping and
// latches to it like any NAT's.

// maxNAT64Peers bounds the peers remembered as behind NAT64.
const maxNAT64Peers = 4096

// nat64Peers remembers the NAT64 prefix each peer (source address and
// port: one phone's mapping) reaches the server through.
type nat64Peers struct {
	mu     sync.Mutex
	byPeer map[netip.AddrPort]netip.Prefix
}

// note learns src's prefix from req when it came through NAT64 to the
// server whose public IPv4 address is own.
func (n *nat64Peers) note(req *sip.Request, src netip.AddrPort, own netip.Addr) {
	via := req.Via()
	if via == nil {
		return
	}
	prefix, ok := nat64Prefix(req.Recipient.Host, via.Host, src, own)
	if !ok {
		return
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.byPeer == nil {
		n.byPeer = map[netip.AddrPort]netip.Prefix{}
	}
	if _, known := n.byPeer[src]; known || len(n.byPeer) < maxNAT64Peers {
		n.byPeer[src] = prefix
	}
}

// addrOf is the address peer reaches own at: own in peer's NAT64 prefix,
// when peer came through NAT64.
func (n *nat64Peers) addrOf(peer netip.AddrPort, own netip.Addr) (netip.Addr, bool) {
	n.mu.Lock()
	prefix, ok := n.byPeer[peer]
	n.mu.Unlock()
	if !ok || !own.Is4() {
		return netip.Addr{}, false
	}
	return embedIPv4(prefix, own), true
}

// names says whether host (a URI's, brackets and all) is own in a NAT64
// prefix a peer reached it through: a Route entry the server wrote for
// such a peer.
func (n *nat64Peers) names(host string, own netip.Addr) bool {
	a, ok := hostIPv6(host)
	if !ok || !own.Is4() {
		return false
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	for _, prefix := range n.byPeer {
		if embedIPv4(prefix, own) == a {
			return true
		}
	}
	return false
}

// nat64Prefix reads a request's way through NAT64: from an IPv4 source,
// its top Via (viaHost) an IPv6 address, its Request-URI host (ruriHost)
// an IPv6 address whose last 32 bits are own, the server's public IPv4
// address. The prefix is that address's first 96 bits (RFC 6052 §2.2;
// the /96 form every NAT64 in use takes).
func nat64Prefix(ruriHost, viaHost string, src netip.AddrPort, own netip.Addr) (netip.Prefix, bool) {
	if !src.Addr().Unmap().Is4() || !own.Is4() {
		return netip.Prefix{}, false
	}
	target, ok := hostIPv6(ruriHost)
	if _, viaOK := hostIPv6(viaHost); !ok || !viaOK {
		return netip.Prefix{}, false
	}
	b, o := target.As16(), own.As4()
	if [4]byte(b[12:]) != o {
		return netip.Prefix{}, false
	}
	return netip.PrefixFrom(target, 96).Masked(), true
}

// hostIPv6 reads a SIP host (with or without brackets) as an IPv6
// address, not one IPv4-mapped.
func hostIPv6(host string) (netip.Addr, bool) {
	a, err := netip.ParseAddr(strings.Trim(host, "[]"))
	return a, err == nil && a.Is6() && !a.Is4In6()
}

// embedIPv4 is v4 in prefix's last 32 bits.
func embedIPv4(prefix netip.Prefix, v4 netip.Addr) netip.Addr {
	b, a := prefix.Addr().As16(), v4.As4()
	copy(b[12:], a[:])
	return netip.AddrFrom16(b)
}
