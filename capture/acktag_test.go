package capture_test

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/natdoc/natdoc/capture"
	"github.com/natdoc/natdoc/report"
)

// ackTagMessage is a SIP message of TestAckWithAnotherDialogsTag's call,
// sent from port (the phone's socket) with Via branch branch.
func ackTagMessage(first, toTag, cseq, branch string, port uint16) []byte {
	to := "<sip:music@203.0.113.5>"
	if toTag != "" {
		to += ";tag=" + toTag
	}
	return fmt.Appendf(nil, "%s\r\nVia: SIP/2.0/UDP 198.51.100.9:%d;branch=z9hG4bK-%s;rport\r\nFrom: <sip:alice@203.0.113.5>;tag=a1\r\nTo: %s\r\n"+
		"Call-ID: acktag@198.51.100.9\r\nCSeq: %s\r\nContact: <sip:alice@198.51.100.9:%d>\r\nContent-Length: 0\r\n\r\n",
		first, port, branch, to, cseq, port)
}

// TestAckWithAnotherDialogsTag: a phone sends its INVITE twice, from two
// sockets and as two transactions (Ekiga in a public capture does), and
// the server answers each with a dialog of its own. The phone acknowledges
// both 200 OKs with the first dialog's To-tag, so the server resends the
// second 200 OK until it gives up. The ACK came; it belongs to another
// dialog. That is the caller's fault, not a lost ACK, and the call goes on
// in the first dialog: a warning naming the tags, not the NAT remedy. With
// no dialog acknowledged by its own tag, the same stray ACK leaves the
// call to be dropped: an error.
func TestAckWithAnotherDialogsTag(t *testing.T) {
	for _, tc := range []struct {
		name         string
		firstAcked   bool
		wantSeverity report.Severity
	}{
		{"the first dialog goes on", true, report.SeverityWarning},
		{"no dialog acknowledged", false, report.SeverityError},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path, w := createPcap(t, "acktag.pcap", 1)
			phone5060, phone1024 := netip.MustParseAddrPort("198.51.100.9:5060"), netip.MustParseAddrPort("198.51.100.9:1024")
			server := netip.MustParseAddrPort("203.0.113.5:5060")
			t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
			send := func(ms int, src, dst netip.AddrPort, data []byte) {
				writeUDP(t, w, src, dst, data, t0.Add(time.Duration(ms)*time.Millisecond))
			}
			send(0, phone5060, server, ackTagMessage("INVITE sip:music@203.0.113.5 SIP/2.0", "", "1 INVITE", "i1", 5060))
			if tc.firstAcked {
				send(60, server, phone5060, ackTagMessage("SIP/2.0 200 OK", "d1", "1 INVITE", "i1", 5060))
			}
			send(100, phone1024, server, ackTagMessage("INVITE sip:music@203.0.113.5 SIP/2.0", "", "1 INVITE", "i2", 1024))
			if tc.firstAcked {
				send(110, phone5060, server, ackTagMessage("ACK sip:music@203.0.113.5 SIP/2.0", "d1", "1 ACK", "k1", 5060))
			}
			// The second dialog's 200 OK, resent T1 apart and doubling up
			// to T2 (RFC 3261 §13.3.1.4); each copy "acknowledged" with d1.
			for i, ms := range []int{160, 660, 1660, 3660, 7660, 11660, 15660} {
				send(ms, server, phone1024, ackTagMessage("SIP/2.0 200 OK", "d2", "1 INVITE", "i2", 1024))
				if i < 2 {
					send(ms+2, phone1024, server, ackTagMessage("ACK sip:music@203.0.113.5 SIP/2.0", "d1", "1 ACK", fmt.Sprintf("k2%d", i), 1024))
				}
			}
			send(20000, phone5060, server, ackTagMessage("BYE sip:music@203.0.113.5 SIP/2.0", "d1", "2 BYE", "b1", 5060))
			send(20060, server, phone5060, ackTagMessage("SIP/2.0 200 OK", "d1", "2 BYE", "b1", 5060))

			res := capture.AnalyzePath(t, path)
			if len(res.Calls) != 1 {
				t.Fatalf("%d calls, want 1", len(res.Calls))
			}
			f := findingOf(res.Calls[0], capture.IDAnswerNotAcknowledged)
			if f == nil {
				t.Fatalf("no %s finding: %+v", capture.IDAnswerNotAcknowledged, res.Calls[0].Findings)
			}
			if f.Severity != tc.wantSeverity {
				t.Errorf("severity %s, want %s: %s", f.Severity, tc.wantSeverity, f.Title)
			}
			evidence := ""
			for _, ev := range f.Evidence {
				evidence += ev.Text + "\n"
			}
			if !strings.Contains(evidence, "carries To-tag d1, not this 200 OK's d2") || strings.Contains(evidence, "never reached") {
				t.Errorf("the evidence does not name the stray tag:\n%s", evidence)
			}
			if strings.Contains(f.Remedy, "Contact") {
				t.Errorf("the remedy blames the network: %s", f.Remedy)
			}
			if tc.firstAcked != strings.Contains(f.Title, "another dialog of the call, which goes on") {
				t.Errorf("title: %s", f.Title)
			}
		})
	}
}
