package capture

import "net/netip"

// A capture taken on one host (a softphone's PC, a PBX, a phone's own
// switch port) shows that host in every packet, to or from it; one taken
// on a link between hosts, a SPAN of several ports or a router shows
// none. commonHost follows the addresses every unicast packet so far was
// to or from, so a verdict can say that a party on the capture's own
// host never put its RTP on the wire: nothing on the network lost it.
type commonHost struct {
	addrs   [2]netip.Addr // the candidates; zero once a packet lacked one
	started bool
}

// observe takes one more packet (or flow: its packets share addresses).
// Broadcasts, multicasts and packets from no address yet (DHCP) are
// other hosts' chatter on a shared segment and do not count.
func (h *commonHost) observe(src, dst netip.Addr) {
	if !src.IsValid() || src.IsUnspecified() || !dst.IsValid() || dst.IsMulticast() || isBroadcast(dst) {
		return
	}
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

// isBroadcast: the limited broadcast, or an IPv4 address ending in .255
// (a /24's directed broadcast, by far the commonest; a host numbered .255
// in a wider subnet only makes the capture's host unknown).
func isBroadcast(a netip.Addr) bool {
	if !a.Is4() {
		return false
	}
	return a.As4()[3] == 255
}
