package capture

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

// icmpUnreachable builds an ICMP (or ICMPv6) destination-unreachable
// message, from its type byte, quoting the IP and UDP headers of a
// datagram from src to dst.
func icmpUnreachable(t testing.TB, src, dst netip.AddrPort, code uint8) []byte {
	t.Helper()
	udp := &layers.UDP{SrcPort: layers.UDPPort(src.Port()), DstPort: layers.UDPPort(dst.Port())}
	buf := gopacket.NewSerializeBuffer()
	opts := gopacket.SerializeOptions{FixLengths: true}
	var quoted []gopacket.SerializableLayer
	typ := byte(3)
	if src.Addr().Is4() {
		quoted = []gopacket.SerializableLayer{&layers.IPv4{Version: 4, IHL: 5, TTL: 64, Protocol: layers.IPProtocolUDP,
			SrcIP: src.Addr().AsSlice(), DstIP: dst.Addr().AsSlice()}, udp, gopacket.Payload("INVITE sip:")}
	} else {
		typ = 1
		quoted = []gopacket.SerializableLayer{&layers.IPv6{Version: 6, HopLimit: 64, NextHeader: layers.IPProtocolUDP,
			SrcIP: src.Addr().AsSlice(), DstIP: dst.Addr().AsSlice()}, udp, gopacket.Payload("INVITE sip:")}
	}
	if err := gopacket.SerializeLayers(buf, opts, quoted...); err != nil {
		t.Fatal(err)
	}
	return append([]byte{typ, code, 0, 0, 0, 0, 0, 0}, buf.Bytes()...)
}

func TestQuotedUDP(t *testing.T) {
	src4, dst4 := netip.MustParseAddrPort("203.0.113.10:5060"), netip.MustParseAddrPort("203.0.113.30:5060")
	src6, dst6 := netip.MustParseAddrPort("[2001:db8::10]:5060"), netip.MustParseAddrPort("[2001:db8::30]:5062")
	v4, v6 := icmpUnreachable(t, src4, dst4, 3), icmpUnreachable(t, src6, dst6, 4)
	for _, tc := range []struct {
		name     string
		b        []byte
		v6, ok   bool
		src, dst netip.AddrPort
	}{
		{"ICMP port unreachable", v4, false, true, src4, dst4},
		{"ICMPv6 port unreachable", v6, true, true, src6, dst6},
		{"echo request", append([]byte{8}, v4[1:]...), false, false, netip.AddrPort{}, netip.AddrPort{}},
		{"quote cut inside UDP", v4[:8+20+4], false, false, netip.AddrPort{}, netip.AddrPort{}},
		{"ICMPv6 read as ICMP", v6, false, false, netip.AddrPort{}, netip.AddrPort{}},
		{"empty", nil, false, false, netip.AddrPort{}, netip.AddrPort{}},
	} {
		proto, src, dst, _, ok := quotedTransport(tc.b, tc.v6)
		if ok != tc.ok || src != tc.src || dst != tc.dst || (ok && proto != protoUDP) {
			t.Errorf("%s: %s → %s, %v; want %s → %s, %v", tc.name, src, dst, ok, tc.src, tc.dst, tc.ok)
		}
	}
	var u unreachables
	u.observe(&packet{Proto: protoICMP, Src: netip.AddrPortFrom(dst4.Addr(), 0), Payload: v4, Frame: 7})
	u.observe(&packet{Proto: protoICMP, Src: netip.AddrPortFrom(dst4.Addr(), 0), Payload: v4, Frame: 9})
	e := u.about(src4, dst4)
	if e == nil || e.count != 2 || !strings.Contains(e.evidence(dst4), "came back from 203.0.113.30 2 times for packets to 203.0.113.30:5060: port unreachable") {
		t.Errorf("about: %+v", e)
	}
	if u.about(dst4, src4) != nil {
		t.Error("the reverse direction has no error")
	}
}

// TestUnreachablesBounded: a scan of closed ports keeps at most
// maxUnreachables pairs and says so.
func TestUnreachablesBounded(t *testing.T) {
	var u unreachables
	full := 0
	for i := range maxUnreachables + 10 {
		src := netip.AddrPortFrom(netip.MustParseAddr("203.0.113.10"), uint16(1024+i))
		b := icmpUnreachable(t, src, netip.MustParseAddrPort("203.0.113.30:5060"), 3)
		if u.observe(&packet{Proto: protoICMP, Payload: b}) {
			full++
		}
	}
	if len(u.byPair) != maxUnreachables || full != 10 {
		t.Errorf("%d pairs kept, %d refused; want %d, 10", len(u.byPair), full, maxUnreachables)
	}
}

// FuzzQuotedUDP: any ICMP payload is a quoted UDP or TCP pair from its
// bytes or refused, never a panic.
func FuzzQuotedUDP(f *testing.F) {
	f.Add(icmpUnreachable(f, netip.MustParseAddrPort("203.0.113.10:5060"), netip.MustParseAddrPort("203.0.113.30:5060"), 3), false)
	f.Add(icmpUnreachable(f, netip.MustParseAddrPort("[2001:db8::10]:5060"), netip.MustParseAddrPort("[2001:db8::30]:5060"), 4), true)
	f.Add([]byte{3, 3, 0, 0, 0, 0, 0, 0, 0x4f}, false) // IHL past the quote
	f.Fuzz(func(t *testing.T, b []byte, v6 bool) {
		proto, src, dst, _, ok := quotedTransport(b, v6)
		if ok && (!src.IsValid() || !dst.IsValid() || src.Addr().Is4() == v6 || (proto != protoUDP && proto != protoTCP)) {
			t.Errorf("%x: %d %s → %s", b, proto, src, dst)
		}
	})
}

// TestRefuses: errors from the start over most of a flow's life show it
// refused; a burst while the receiver opens its port late, errors from
// when it closed it on, or one or two errors, do not.
func TestRefuses(t *testing.T) {
	sec := int64(time.Second)
	flow := &rtpFlow{firstNs: 0, lastNs: 20 * sec} // 20 s of RTP
	for _, tc := range []struct {
		name        string
		count       int
		first, last int64
		want        bool
	}{
		{"all call long, one a second", 26, 0, 20 * sec, true},
		{"from the start, over half the flow", 10, sec, 11 * sec, true},
		{"a burst as the receiver opens late", 6, 0, 2 * sec, false},
		{"a burst as the receiver closes", 6, 19 * sec, 20 * sec, false},
		{"from the middle on (the receiver hung up first)", 18, 8 * sec, 20 * sec, false},
		{"two errors", 2, 0, 20 * sec, false},
	} {
		e := &unreachable{code: 3, count: tc.count, firstNs: tc.first, lastNs: tc.last}
		if got := e.refuses(flow) != ""; got != tc.want {
			t.Errorf("%s: refused %v, want %v", tc.name, got, tc.want)
		}
	}
	var none *unreachable
	if none.refuses(flow) != "" {
		t.Error("no errors refuse")
	}
}

// TestHairpinRefused: a NAT refusing, at its own public address, media
// sent from the receiver's own LAN does not hairpin; a far host refusing
// media, or a NAT refusing a peer from another LAN, is something else.
func TestHairpinRefused(t *testing.T) {
	a := netip.MustParseAddr
	for _, tc := range []struct {
		name                        string
		src, dst, receiver, refuser netip.Addr
		want                        bool
	}{
		{"same LAN, the NAT refuses", a("192.168.1.103"), a("185.85.37.148"), a("192.168.1.58"), a("185.85.37.148"), true},
		{"same LAN, a host beyond refuses", a("192.168.1.103"), a("185.85.37.148"), a("192.168.1.58"), a("203.0.113.9"), false},
		{"another LAN", a("192.168.2.10"), a("185.85.37.148"), a("192.168.1.58"), a("185.85.37.148"), false},
		{"sent from outside", a("198.51.100.7"), a("185.85.37.148"), a("192.168.1.58"), a("185.85.37.148"), false},
		{"IPv6 LAN", a("fd00:1::10"), a("2001:db8::1"), a("fd00:1::20"), a("2001:db8::1"), true},
	} {
		if got := hairpinRefused(tc.src, tc.dst, tc.receiver, tc.refuser); got != tc.want {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
	}
}
