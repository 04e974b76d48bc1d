package capture

import (
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/natdoc/natdoc/report"
)

// TestUnansweredInviteArrived: an INVITE from the internet to a private
// address that nothing answers cannot have arrived when the capture is
// outside that address's NAT (request-to-private-address); taken on the
// receiver's own host (a cloud server behind its provider's 1:1 NAT,
// kpalaw sip-rtp-analyzer), or on its side of its NAT (it sends SIP out
// from there), the capture shows the INVITE arrive, and the receiver, or
// a firewall on its host, dropped it.
func TestUnansweredInviteArrived(t *testing.T) {
	scanner, server := netip.MustParseAddrPort("213.165.51.44:53777"), netip.MustParseAddrPort("10.154.0.3:5060")
	carrier, elsewhere := netip.MustParseAddrPort("90.204.96.95:5060"), netip.MustParseAddrPort("198.51.100.9:5060")
	for _, tc := range []struct {
		name   string
		before [][2]netip.AddrPort // other SIP in the capture, before the INVITE
		want   report.FindingID
		remedy string
	}{
		{"outside the receiver's NAT", [][2]netip.AddrPort{{carrier, elsewhere}}, IDRequestToPrivate, remedyUnreachableContact},
		{"on the receiver's host", [][2]netip.AddrPort{{carrier, server}}, IDRequestUnanswered, remedyDroppedOnHost},
		{"on the receiver's side of its NAT", [][2]netip.AddrPort{{carrier, elsewhere}, {server, carrier}}, IDRequestUnanswered, remedyDroppedOnHost},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newState()
			t0 := time.Date(2026, 4, 2, 0, 23, 57, 0, time.UTC)
			frame := uint64(0)
			send := func(at time.Duration, src, dst netip.AddrPort, text string) {
				frame++
				s.host.observe(src.Addr(), dst.Addr())
				s.handle(&packet{Frame: frame, Time: t0.Add(at), Src: src, Dst: dst, Proto: protoUDP, Payload: []byte(text)})
			}
			for i, p := range tc.before {
				send(0, p[0], p[1], options(fmt.Sprintf("ka%d", i), p[0]))
			}
			// Resent on RFC 3261's schedule until Timer B, never answered.
			invite := "INVITE sip:000048422032120@34.105.179.44 SIP/2.0\r\nVia: SIP/2.0/UDP 213.165.51.44:53777;branch=z9hG4bK-1\r\n" +
				"From: <sip:2@34.105.179.44>;tag=1\r\nTo: <sip:000048422032120@34.105.179.44>\r\nCall-ID: scan-1\r\nCSeq: 1 INVITE\r\n" +
				"Contact: <sip:2@213.165.51.44:53777>\r\nContent-Length: 0\r\n\r\n"
			for _, at := range []time.Duration{0, 500, 1500, 3500, 7500, 15500, 31500} {
				send(time.Second+at*time.Millisecond, scanner, server, invite)
			}
			send(40*time.Second, scanner, server, options("end", scanner))
			res := s.result([]string{"scan.pcap"}, "")
			var got *report.Finding
			for _, c := range res.Calls {
				for i, f := range c.Findings {
					if f.ID == IDRequestToPrivate || f.ID == IDRequestUnanswered {
						got = &c.Findings[i]
					}
				}
			}
			if got == nil || got.ID != tc.want || got.Remedy != tc.remedy {
				t.Fatalf("finding %+v, want %s with its remedy", got, tc.want)
			}
		})
	}
}

// options is an OPTIONS request from src (a keep-alive).
func options(callID string, src netip.AddrPort) string {
	return "OPTIONS sip:ping@example.test SIP/2.0\r\nVia: SIP/2.0/UDP " + src.String() + ";branch=z9hG4bK-" + callID + "\r\n" +
		"From: <sip:ka@example.test>;tag=k\r\nTo: <sip:ping@example.test>\r\nCall-ID: " + callID + "\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"
}
