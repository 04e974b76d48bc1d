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

// TestContactPortRemapped: a PBX that knows its public address but not
// the port its NAT gave its REGISTER (203.0.113.1:6957) registers Contact
// 203.0.113.1:5060, and the registrar stores it as written. The
// registration is flagged with the remedy to send to where the REGISTER
// came from. Not when something answered from the Contact's port (the
// router forwards it), when the registrar noted the source (received=) or
// rewrote the Contact to it (Asterisk's rewrite_contact),
// or when the port is the REGISTER's own.
func TestContactPortRemapped(t *testing.T) {
	src, registrar := netip.MustParseAddrPort("203.0.113.1:6957"), netip.MustParseAddrPort("203.0.113.20:5060")
	contact := netip.MustParseAddrPort("203.0.113.1:5060")
	for _, tc := range []struct {
		name      string
		src       netip.AddrPort
		okContact string // the Contact the 200 OK lists
		answered  bool   // an OPTIONS to the Contact is answered from it
		want      bool
	}{
		{"stored as written", src, "<sip:pbx@203.0.113.1:5060>;expires=300", false, true},
		{"answered at the Contact", src, "<sip:pbx@203.0.113.1:5060>;expires=300", true, false},
		{"registrar noted the source", src, "<sip:pbx@203.0.113.1:5060>;expires=300;received=\"sip:203.0.113.1:6957\"", false, false},
		{"registrar rewrote the Contact to the source", src, "<sip:pbx@203.0.113.1:6957>;expires=300", false, false},
		{"the REGISTER's own port", contact, "<sip:pbx@203.0.113.1:5060>;expires=300", false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path, w := createPcap(t, "remap.pcap", 1)
			t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
			headers := func(first, branch, cseq string) string {
				return fmt.Sprintf("%s\r\nVia: SIP/2.0/UDP 203.0.113.1:5060;branch=%s;rport\r\nFrom: <sip:pbx@203.0.113.20>;tag=r1\r\nTo: <sip:pbx@203.0.113.20>\r\n"+
					"Call-ID: remap@natdoc.test\r\nCSeq: %s\r\n", first, branch, cseq)
			}
			register := headers("REGISTER sip:203.0.113.20 SIP/2.0", "z9hG4bKr1", "1 REGISTER") + "Contact: <sip:pbx@203.0.113.1:5060>\r\nExpires: 300\r\nContent-Length: 0\r\n\r\n"
			ok := headers("SIP/2.0 200 OK", "z9hG4bKr1", "1 REGISTER") + "Contact: " + tc.okContact + "\r\nContent-Length: 0\r\n\r\n"
			writeUDP(t, w, tc.src, registrar, []byte(register), t0)
			writeUDP(t, w, registrar, tc.src, []byte(ok), t0.Add(20*time.Millisecond))
			if tc.answered {
				options := "OPTIONS sip:pbx@203.0.113.1:5060 SIP/2.0\r\nVia: SIP/2.0/UDP 203.0.113.20:5060;branch=z9hG4bKo1\r\nFrom: <sip:ping@203.0.113.20>;tag=o1\r\n" +
					"To: <sip:pbx@203.0.113.1>\r\nCall-ID: ping@natdoc.test\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"
				writeUDP(t, w, registrar, contact, []byte(options), t0.Add(time.Second))
				writeUDP(t, w, contact, registrar, []byte(strings.Replace(options, "OPTIONS sip:pbx@203.0.113.1:5060 SIP/2.0", "SIP/2.0 200 OK", 1)), t0.Add(time.Second+10*time.Millisecond))
			}
			res := capture.AnalyzePath(t, path)
			got := findingByID(res.Findings, capture.IDRegisterContactNotFixed)
			if (got != nil) != tc.want {
				t.Fatalf("finding %+v, want one: %v", got, tc.want)
			}
			if got != nil && (got.Severity != report.SeverityWarning || !strings.Contains(got.Title, "stored the Contact 203.0.113.1:5060 of pbx as written, though its REGISTER came from 203.0.113.1:6957") ||
				!strings.Contains(got.Remedy, "send to where the REGISTER came from")) {
				t.Errorf("finding %+v", got)
			}
		})
	}
}
