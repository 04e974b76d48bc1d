package capture_test

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket/layers"
	"github.com/natdoc/natdoc/capture"
	"github.com/natdoc/natdoc/report"
)

// writeFamilyCall writes a call from 203.0.113.10 to 203.0.113.11 over
// IPv4 SIP whose offer names offerAddr and answer answerAddr for media,
// with rtp packets of the caller's to the answer's address.
func writeFamilyCall(t *testing.T, offerAddr, answerAddr netip.AddrPort, rtp int) string {
	t.Helper()
	path, w := createPcap(t, "family.pcap", layers.LinkTypeEthernet)
	a, b := netip.MustParseAddrPort("203.0.113.10:5060"), netip.MustParseAddrPort("203.0.113.11:5060")
	sdp := func(user string, at netip.AddrPort) string {
		family := "IP4"
		if at.Addr().Is6() {
			family = "IP6"
		}
		return fmt.Sprintf("v=0\r\no=%s 1 1 IN %s %s\r\ns=-\r\nc=IN %s %s\r\nt=0 0\r\nm=audio %d RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n",
			user, family, at.Addr(), family, at.Addr(), at.Port())
	}
	msg := func(start, toTag, cseq, body string) []byte {
		m := start + "\r\nVia: SIP/2.0/UDP 203.0.113.10:5060;branch=z9hG4bK" + strings.Fields(cseq)[0] + "\r\nFrom: <sip:100@natdoc.test>;tag=a1\r\n" +
			"To: <sip:200@natdoc.test>" + toTag + "\r\nCall-ID: family\r\nCSeq: " + cseq + "\r\nContact: <sip:x@203.0.113.10:5060>\r\n"
		if body != "" {
			m += "Content-Type: application/sdp\r\n"
		}
		return []byte(m + fmt.Sprintf("Content-Length: %d\r\n\r\n", len(body)) + body)
	}
	t0 := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	writeUDP(t, w, a, b, msg("INVITE sip:200@203.0.113.11 SIP/2.0", "", "1 INVITE", sdp("100", offerAddr)), t0)
	writeUDP(t, w, b, a, msg("SIP/2.0 200 OK", ";tag=b1", "1 INVITE", sdp("200", answerAddr)), t0.Add(100*time.Millisecond))
	writeUDP(t, w, a, b, msg("ACK sip:200@203.0.113.11:5060 SIP/2.0", ";tag=b1", "1 ACK", ""), t0.Add(150*time.Millisecond))
	from := netip.AddrPortFrom(a.Addr(), offerAddr.Port())
	for i := range rtp {
		rtpPkt := make([]byte, 172)
		rtpPkt[0], rtpPkt[2], rtpPkt[3], rtpPkt[8] = 0x80, byte(i>>8), byte(i), 1
		writeUDP(t, w, from, answerAddr, rtpPkt, t0.Add(200*time.Millisecond+time.Duration(i)*20*time.Millisecond))
	}
	writeUDP(t, w, a, b, msg("BYE sip:200@203.0.113.11:5060 SIP/2.0", ";tag=b1", "2 BYE", ""), t0.Add(10*time.Second))
	writeUDP(t, w, b, a, msg("SIP/2.0 200 OK", ";tag=b1", "2 BYE", ""), t0.Add(10*time.Second+50*time.Millisecond))
	return path
}

// TestFamilyMismatch: a dual-stack caller signalling over IPv4 offers
// IPv6 media to a callee whose SIP and SDP are IPv4: the callee sends
// nothing, and the one-way verdict names the address family, with its
// remedy. The same silence after an IPv4 offer is no matter of family.
func TestFamilyMismatch(t *testing.T) {
	v4 := netip.MustParseAddrPort("203.0.113.11:10000")
	for _, tc := range []struct {
		name   string
		offer  netip.AddrPort
		family bool
	}{
		{"IPv6 offer", netip.MustParseAddrPort("[2001:db8::10]:40000"), true},
		{"IPv4 offer", netip.MustParseAddrPort("203.0.113.10:40000"), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := capture.AnalyzePath(t, writeFamilyCall(t, tc.offer, v4, 300))
			c := res.Calls[0]
			f := findingByID(c.Findings, report.IDOneWayAudio)
			if c.Verdict != report.VerdictOneWay || f == nil {
				t.Fatalf("%s, findings %v", c.Verdict, capture.FindingIDs(c))
			}
			named := false
			for _, e := range f.Evidence {
				named = named || strings.Contains(e.Text, "the caller's SDP names IPv6 media addresses only ([2001:db8::10]:40000), while the callee's SIP comes over IPv4")
			}
			if named != tc.family || (f.Remedy == capture.RemedyAddressFamily) != tc.family {
				t.Errorf("family named %v, remedy %q; want %v", named, f.Remedy, tc.family)
			}
		})
	}
}
