//go:build linux

package natlab

import (
	"net/netip"
	"strings"
	"testing"
	"time"
)

// privateInvite is a SIP INVITE as a phone at 192.168.1.10 sends it: its
// private address in Via, Contact and SDP.
const privateInvite = "INVITE sip:200@203.0.113.20 SIP/2.0\r\n" +
	"Via: SIP/2.0/UDP 192.168.1.10:5060;branch=z9hG4bK-natlab-1;rport\r\n" +
	"Max-Forwards: 70\r\n" +
	"From: <sip:100@203.0.113.20>;tag=a1\r\n" +
	"To: <sip:200@203.0.113.20>\r\n" +
	"Call-ID: natlab-alg-test\r\n" +
	"CSeq: 1 INVITE\r\n" +
	"Contact: <sip:100@192.168.1.10:5060>\r\n" +
	"Content-Type: application/sdp\r\n" +
	"Content-Length: %d\r\n\r\n%s"

const privateSDP = "v=0\r\no=- 1 1 IN IP4 192.168.1.10\r\ns=-\r\nc=IN IP4 192.168.1.10\r\nt=0 0\r\n" +
	"m=audio 10000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n"

func TestLabSIPALGRewrites(t *testing.T) {
	t.Parallel()
	for _, alg := range []bool{true, false} {
		name := map[bool]string{true: "alg-on", false: "alg-off"}[alg]
		t.Run(name, func(t *testing.T) {
			lab := New(t)
			carrier := lab.PublicHost("carrier", "203.0.113.20")
			r := lab.Router("r1", RouterConfig{WAN: "203.0.113.1", LAN: "192.168.1.1/24", NAT: NATConfig{SIPALG: alg}})
			phone := r.LANHost("phone", "192.168.1.10")
			in, err := carrier.ListenUDP("udp4", "203.0.113.20:5060")
			if err != nil {
				t.Fatal(err)
			}
			defer in.Close()
			out, err := phone.ListenUDP("udp4", "192.168.1.10:5060")
			if err != nil {
				t.Fatal(err)
			}
			defer out.Close()
			msg := []byte(strings.Replace(privateInvite, "%d", itoa(len(privateSDP)), 1))
			msg = []byte(strings.Replace(string(msg), "%s", privateSDP, 1))
			var got string
			buf := make([]byte, 4096)
			for try := 0; try < 3 && got == ""; try++ {
				if _, err := out.WriteToUDPAddrPort(msg, mustAddrPort("203.0.113.20:5060")); err != nil {
					t.Fatal(err)
				}
				_ = in.SetReadDeadline(time.Now().Add(time.Second))
				if n, _, err := in.ReadFromUDPAddrPort(buf); err == nil {
					got = string(buf[:n])
				}
			}
			if got == "" {
				t.Fatal("the INVITE did not arrive")
			}
			rewritten := strings.Contains(got, "c=IN IP4 203.0.113.1") && strings.Contains(got, "Contact: <sip:100@203.0.113.1")
			t.Logf("%s: carrier received Contact/c= rewritten to the WAN address: %v", name, rewritten)
			if rewritten != alg {
				t.Errorf("rewritten = %v with ALG %v; message received:\n%s", rewritten, alg, got)
			}
		})
	}
}

func mustAddrPort(s string) netip.AddrPort { return netip.MustParseAddrPort(s) }
