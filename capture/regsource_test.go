package capture_test

import (
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/gopacket/gopacket/layers"
	"github.com/natdoc/natdoc/capture"
	"github.com/natdoc/natdoc/report"
)

// TestRegistrarSendsToSource: a registrar that echoes a NATed phone's
// private Contact in its 200 OK unchanged, yet sends its requests to where
// the REGISTER came from (natdoc serve does; the phone answers them there),
// has fixed the Contact in effect: no register-contact-not-fixed. Without
// such an answered request, the finding stands.
func TestRegistrarSendsToSource(t *testing.T) {
	phone, registrar := netip.MustParseAddrPort("203.0.113.64:15137"), netip.MustParseAddrPort("203.0.113.5:5060")
	for _, answered := range []bool{true, false} {
		t.Run(fmt.Sprint("answered=", answered), func(t *testing.T) {
			path, w := createPcap(t, "reg.pcap", layers.LinkTypeEthernet)
			t0 := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
			hdr := "Via: SIP/2.0/UDP 192.168.1.11:5060;branch=z9hG4bK%s;rport\r\nFrom: <sip:carol@203.0.113.5>;tag=r1\r\nTo: <sip:carol@203.0.113.5>%s\r\n" +
				"Call-ID: reg-1\r\nCSeq: %d %s\r\n"
			register := fmt.Sprintf("REGISTER sip:203.0.113.5 SIP/2.0\r\n"+hdr+"Contact: <sip:carol@192.168.1.11:5060>;expires=600\r\nContent-Length: 0\r\n\r\n", "1", "", 1, "REGISTER")
			ok := fmt.Sprintf("SIP/2.0 200 OK\r\n"+hdr+"Contact: <sip:carol@192.168.1.11:5060>;expires=600\r\nContent-Length: 0\r\n\r\n", "1", ";tag=s1", 1, "REGISTER")
			writeUDP(t, w, phone, registrar, []byte(register), t0)
			writeUDP(t, w, registrar, phone, []byte(ok), t0.Add(10*time.Millisecond))
			ping := "OPTIONS sip:carol@192.168.1.11:5060 SIP/2.0\r\nVia: SIP/2.0/UDP 203.0.113.5:5060;branch=z9hG4bKp1\r\nFrom: <sip:ping@203.0.113.5>;tag=p1\r\n" +
				"To: <sip:carol@192.168.1.11:5060>\r\nCall-ID: ping-1\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"
			writeUDP(t, w, registrar, phone, []byte(ping), t0.Add(5*time.Second))
			if answered {
				pong := "SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 203.0.113.5:5060;branch=z9hG4bKp1\r\nFrom: <sip:ping@203.0.113.5>;tag=p1\r\n" +
					"To: <sip:carol@192.168.1.11:5060>;tag=c1\r\nCall-ID: ping-1\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"
				writeUDP(t, w, phone, registrar, []byte(pong), t0.Add(5*time.Second+time.Millisecond))
			}
			res := capture.AnalyzePath(t, path)
			found := findingByID(res.Findings, capture.IDRegisterContactNotFixed) != nil
			if found == answered {
				t.Errorf("register-contact-not-fixed %v, want %v; findings %v", found, !answered, ids(res.Findings))
			}
		})
	}
}

func ids(fs []report.Finding) []report.FindingID {
	var out []report.FindingID
	for _, f := range fs {
		out = append(out, f.ID)
	}
	return out
}
