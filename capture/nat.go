package capture

import (
	"net/netip"
)

// privatePrefixes are the ranges a NAT hides (issue 5): RFC 1918, RFC 6598
// shared address space (carrier-grade NAT), link-local (RFC 3927),
// loopback, the IETF protocol assignments 192.0.0.0/24 (RFC 6890, DS-Lite
// B4 addresses live there), and IPv6 unique local (RFC 4193), link-local
// and the deprecated site-local (RFC 3879: never routed on the internet,
// still configured on old phones).
var privatePrefixes = []netip.Prefix{
	netip.MustParsePrefix("10.0.0.0/8"),
	netip.MustParsePrefix("172.16.0.0/12"),
	netip.MustParsePrefix("192.168.0.0/16"),
	netip.MustParsePrefix("100.64.0.0/10"),
	netip.MustParsePrefix("169.254.0.0/16"),
	netip.MustParsePrefix("127.0.0.0/8"),
	netip.MustParsePrefix("192.0.0.0/24"),
	netip.MustParsePrefix("fc00::/7"),
	netip.MustParsePrefix("fe80::/10"),
	netip.MustParsePrefix("fec0::/10"),
	netip.MustParsePrefix("::1/128"),
}

// IsPrivate reports whether a is an address that cannot be reached from
// the internet.
func IsPrivate(a netip.Addr) bool {
	a = a.Unmap()
	if a.Is4() {
		return privateIPv4(a.As4())
	}
	for _, p := range privatePrefixes {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// privateIPv4 is the IPv4 part of privatePrefixes by octets: every SIP
// message and stream asks, and walking the prefixes took a twentieth of
// a signalling capture's analysis. TestPrivateIPv4 holds the two equal.
func privateIPv4(b [4]byte) bool {
	switch b[0] {
	case 10, 127:
		return true
	case 172:
		return b[1]&0xf0 == 16
	case 192:
		return b[1] == 168 || (b[1] == 0 && b[2] == 0)
	case 100:
		return b[1]&0xc0 == 64
	case 169:
		return b[1] == 254
	}
	return false
}

// isPublic: a valid, routable, non-private address.
func isPublic(a netip.Addr) bool {
	return a.IsValid() && !a.IsUnspecified() && !a.IsMulticast() && !IsPrivate(a)
}

// unreachableFromOutside says whether media sent to dst can reach a party
// whose SIP was seen coming from sig: a private destination that is not the
// party's own signalling address, while its signalling comes from a public
// address (so the capture sees that party from outside its NAT), cannot be
// routed to it.
func unreachableFromOutside(dst netip.Addr, sig netip.Addr) bool {
	return IsPrivate(dst) && isPublic(sig) && dst != sig
}

// hairpinRefused says whether a flow refused at its destination (ICMP
// errors from reporter) is a NAT that does not hairpin: sent from a
// private address to a public one that refuses it itself, while the
// receiver's SIP comes from the sender's own LAN. The receiver named its
// NAT's public address (STUN, a configured external address) to a peer
// behind the same NAT, and the NAT does not loop packets sent from inside
// to its own public address back in.
func hairpinRefused(src, dst, receiverSig, reporter netip.Addr) bool {
	return IsPrivate(src) && isPublic(dst) && reporter == dst && sameLAN(src, receiverSig)
}

// sameLAN: two private addresses of one /24 (IPv4) or /64 (IPv6), the
// size of a home or office LAN.
func sameLAN(a, b netip.Addr) bool {
	if !IsPrivate(a) || !IsPrivate(b) || a.Is4() != b.Is4() {
		return false
	}
	bits := 64
	if a.Is4() {
		bits = 24
	}
	pa, _ := a.Prefix(bits)
	pb, _ := b.Prefix(bits)
	return pa == pb
}
