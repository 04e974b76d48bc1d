package capture_test

import (
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/natdoc/natdoc/capture"
	"github.com/natdoc/natdoc/report"
)

// sipRequest is a request outside calls from src to dst (a REGISTER
// carries a Contact), or its 200 OK when ok is set.
func sipRequest(method string, src, dst netip.AddrPort, callID string, cseq int, ok bool) []byte {
	first, via := fmt.Sprintf("%s sip:100@%s SIP/2.0", method, dst.Addr()), src
	if ok {
		first = "SIP/2.0 200 OK"
	}
	return []byte(fmt.Sprintf("%s\r\nVia: SIP/2.0/UDP %s;branch=z9hG4bK%s%d\r\nFrom: <sip:100@example.test>;tag=f%s\r\nTo: <sip:100@example.test>\r\n"+
		"Call-ID: %s\r\nCSeq: %d %s\r\nContact: <sip:100@192.168.1.10:5060>\r\nExpires: 600\r\nContent-Length: 0\r\n\r\n",
		first, via, callID, cseq, callID, callID, cseq, method))
}

// TestPingsUnanswered: a server's OPTIONS to where a phone registered
// from go unanswered in a row while the phone sends nothing: the phone is
// out of reach (sip-peer-unreachable, keep the NAT open). Not when the
// phone keeps sending meanwhile and only ignores the requests (a Zultys
// phone's NOTIFYs), nor when the capture never shows the phone sending
// the server anything (it may hold one direction only). When the phone's
// next REGISTER comes from a new port, its NAT had dropped the mapping.
func TestPingsUnanswered(t *testing.T) {
	phone, server := netip.MustParseAddrPort("198.51.100.7:5062"), netip.MustParseAddrPort("203.0.113.20:5060")
	for _, tc := range []struct {
		name         string
		register     bool // the phone registers first and answers the first ping
		keepsSending bool // and again every 10 s (a peer that registers not: one MESSAGE)
		moves        bool // its next REGISTER, after the pings, comes from a new NAT mapping
		want         bool
	}{
		{"phone silent", true, false, false, true},
		{"phone keeps registering", true, true, false, false},
		{"phone never seen sending", false, false, false, false},
		{"peer that answers calls, not OPTIONS", false, true, false, false},
		{"phone's NAT gives it a new mapping", true, false, true, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path, w := createPcap(t, "pings.pcap", 1)
			t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
			send := func(s int, src, dst netip.AddrPort, data []byte) {
				writeUDP(t, w, src, dst, data, t0.Add(time.Duration(s)*time.Second))
			}
			if tc.register {
				send(0, phone, server, sipRequest("REGISTER", phone, server, "reg", 1, false))
				send(0, server, phone, sipRequest("REGISTER", phone, server, "reg", 1, true))
			}
			send(1, server, phone, sipRequest("OPTIONS", server, phone, "ping0", 1, false))
			if tc.register {
				send(1, phone, server, sipRequest("OPTIONS", server, phone, "ping0", 1, true))
			}
			for i := 1; i <= 6; i++ {
				send(10*i, server, phone, sipRequest("OPTIONS", server, phone, fmt.Sprintf("ping%d", i), 1, false))
				switch {
				case tc.keepsSending && tc.register:
					send(10*i+5, phone, server, sipRequest("REGISTER", phone, server, "reg", 1+i, false))
					send(10*i+5, server, phone, sipRequest("REGISTER", phone, server, "reg", 1+i, true))
				case tc.keepsSending && i == 3:
					send(10*i+5, phone, server, sipRequest("MESSAGE", phone, server, "msg", 1, false))
				}
			}
			if tc.moves {
				moved := netip.MustParseAddrPort("198.51.100.7:40001")
				send(65, moved, server, sipRequest("REGISTER", moved, server, "reg", 2, false))
				send(65, server, moved, sipRequest("REGISTER", moved, server, "reg", 2, true))
			}
			send(100, netip.MustParseAddrPort("127.0.0.1:1"), server, []byte("end"))
			res := capture.AnalyzePath(t, path)
			got := findingByID(res.Findings, capture.IDSIPPeerUnreachable)
			if (got != nil) != tc.want {
				t.Fatalf("finding %+v, want one: %v", got, tc.want)
			}
			want := "203.0.113.20's OPTIONS requests to 100 at 198.51.100.7:5062 went unanswered 6 times in a row over 50s, while 100 sent nothing: " +
				"the phone is gone, or its NAT closed the mapping 100 registered from, so calls to 100 cannot reach it"
			if tc.moves {
				want = "203.0.113.20's OPTIONS requests to 100 at 198.51.100.7:5062 went unanswered 6 times in a row over 50s, while 100 sent nothing from there: " +
					"its NAT had dropped the mapping 100 registered from, as its next REGISTER, from 198.51.100.7:40001, shows, so calls to 100 went nowhere until then"
			}
			if got != nil && (got.Title != want || got.Severity != report.SeverityWarning) {
				t.Errorf("finding %+v", got)
			}
		})
	}
}
