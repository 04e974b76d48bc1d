package capture

import (
	"net/netip"
	"slices"
)

// A capture taken on one host (a softphone's PC, a PBX, a phone's own
// switch port) shows that host in every packet, to or from it; one taken
// on a link between hosts, a SPAN of several ports or a router shows
// none. commonHost follows the addresses every unicast packet so far was
// to or from, so a verdict can say that a party on the capture's own
// host never put its RTP on the wire: nothing on the network lost it.
//
// A capture taken on a loopback interface (Linux lo, BSD and macOS lo0,
// Npcap's NPF_Loopback) holds only its host's traffic to itself: every
// packet is addressed to its own source, or goes between loopback
// addresses. What the host exchanges with others never passes there, so
// such a capture cannot hold the media of a party on another host, lost
// or not. commonHost counts such packets (self) against the others
// (between), and keeps the host's addresses seen in them (local).
type commonHost struct {
	addrs   [2]netip.Addr // the candidates; zero once a packet lacked one
	started bool
	// self and between count the packets (and flows) addressed to their
	// own source and the others.
	self, between uint64
	local         []netip.Addr // at most maxLoopbackAddrs
}

// maxLoopbackAddrs bounds the addresses a loopback capture's host keeps.
const maxLoopbackAddrs = 16

// hostView is what the capture says of where it was taken, for the calls
// judged at that moment.
type hostView struct {
	// addr is the one address every packet was to or from (host).
	addr netip.Addr
	// loopback, set when the capture was taken on a loopback interface,
	// are its host's addresses.
	loopback []netip.Addr
	// inside are the private addresses seen sending SIP to public ones
	// (privateRequests): the capture is on their side of their NAT.
	inside map[netip.Addr]bool
}

// reached says whether the capture shows a packet to a arrive there: it
// was taken on a's host, or on a's side of its NAT.
func (v hostView) reached(a netip.Addr) bool { return a == v.addr || v.inside[a] }

// observe takes one more packet (or flow: its packets share addresses).
// Broadcasts, multicasts and packets from no address yet (DHCP) are
// other hosts' chatter on a shared segment and do not count.
func (h *commonHost) observe(src, dst netip.Addr) {
	if !src.IsValid() || src.IsUnspecified() || !dst.IsValid() || dst.IsMulticast() || isBroadcast(dst) {
		return
	}
	h.observeLoopback(src, dst)
	if !h.started {
		h.addrs, h.started = [2]netip.Addr{src, dst}, true
		return
	}
	for i, a := range h.addrs {
		if a.IsValid() && a != src && a != dst {
			h.addrs[i] = netip.Addr{}
		}
	}
}

// host is the one address every packet was to or from, or the zero
// address: none, or two (the capture holds the traffic of one pair of
// hosts only, and cannot say on which of them it was taken).
func (h *commonHost) host() netip.Addr {
	a, b := h.addrs[0], h.addrs[1]
	switch {
	case a.IsValid() && !b.IsValid():
		return a
	case b.IsValid() && !a.IsValid():
		return b
	case a.IsValid() && a == b: // a host talking to itself (loopback)
		return a
	}
	return netip.Addr{}
}

// observeLoopback counts a unicast packet as addressed to its own source
// or not, and notes its host's address.
func (h *commonHost) observeLoopback(src, dst netip.Addr) {
	if src != dst && !(src.IsLoopback() && dst.IsLoopback()) {
		h.between++
		return
	}
	h.self++
	if len(h.local) < maxLoopbackAddrs && !src.IsLoopback() && !slices.Contains(h.local, src) {
		h.local = append(h.local, src)
	}
}

// view is what the capture so far says of where it was taken. A capture
// with one packet between two hosts was not taken on a loopback
// interface (an "any" capture holds lo's traffic too).
func (h *commonHost) view() hostView {
	v := hostView{addr: h.host()}
	if h.self > 0 && h.between == 0 {
		v.loopback = slices.Clip(h.local)
	}
	return v
}

// onHost says whether a is an address of the loopback capture's host.
func (v hostView) onHost(a netip.Addr) bool {
	return a.IsLoopback() || slices.Contains(v.loopback, a.Unmap())
}

// isBroadcast: the limited broadcast, or an IPv4 address ending in .255
// (a /24's directed broadcast, by far the commonest; a host numbered .255
// in a wider subnet only makes the capture's host unknown).
func isBroadcast(a netip.Addr) bool {
	if !a.Is4() {
		return false
	}
	return a.As4()[3] == 255
}
