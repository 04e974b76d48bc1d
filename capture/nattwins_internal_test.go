package capture

import (
	"net/netip"
	"testing"
	"time"
)

// TestNATTwinsInbound: an INVITE from a public proxy to a NAT's public
// address, then the same INVITE from it to a private address a moment
// later, is one message seen on both sides of the NAT: filed once, the
// mapping noted. The same INVITE forked by a proxy to two private
// addresses went to no NAT's address first: both are filed.
func TestNATTwinsInbound(t *testing.T) {
	const invite = "INVITE sip:100@example.test SIP/2.0\r\nVia: SIP/2.0/UDP 203.0.113.20:5060;branch=z9hG4bK1\r\n" +
		"From: <sip:200@example.test>;tag=f1\r\nTo: <sip:100@example.test>\r\nCall-ID: twin-1\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n"
	proxy := netip.MustParseAddrPort("203.0.113.20:5060")
	t0 := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name        string
		first, then string
		filed       uint64
	}{
		{"through a NAT", "203.0.113.1:5060", "192.168.1.10:5060", 1},
		{"through a NAT behind a carrier-grade NAT", "100.64.0.2:5060", "192.168.1.10:5060", 1},
		{"forked to two private addresses", "10.0.0.1:5060", "10.0.0.2:5060", 2},
	} {
		s := newState()
		for i, dst := range []string{tc.first, tc.then} {
			s.handle(&packet{Frame: uint64(i + 1), Time: t0.Add(time.Duration(i) * time.Millisecond), Proto: protoUDP,
				Src: proxy, Dst: netip.MustParseAddrPort(dst), Payload: []byte(invite)})
		}
		s.releaseHeld(time.Time{})
		if s.counts.sip != tc.filed || (tc.filed == 1) != s.twins.onNAT() {
			t.Errorf("%s: %d filed, on a NAT %v; want %d", tc.name, s.counts.sip, s.twins.onNAT(), tc.filed)
		}
	}
}
