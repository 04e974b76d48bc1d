//go:build linux

package capture

import (
	"fmt"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/natdoc/natdoc/internal/natlab"
	"github.com/natdoc/natdoc/report"
)

// TestLabInviteFromAnotherServer: Alice's baresip behind her router
// registers at Kamailio (203.0.113.20); a moment later another node of
// the same service (203.0.113.21) sends her qualify pings (OPTIONS), then
// an INVITE, at the mapping she registered from, resent until it gives up. Her router's NAT keeps the
// mapping but lets in only the addresses she has sent to: it refuses the
// INVITE (port unreachable) or, behind a firewall that drops unsolicited
// packets, drops it silently. The findings (sip-peer-unreachable for the
// pings, request-unanswered for the INVITE) name the filter, with her
// REGISTER, not a mapping her NAT dropped.
func TestLabInviteFromAnotherServer(t *testing.T) {
	for _, tc := range []struct {
		name      string
		dropInput bool
		want      string
		evidence  int // the INVITE, the REGISTER, the ICMP errors if any
	}{
		{"refused", false, "; its NAT refused it (port unreachable): a NAT that filters by address lets in only the addresses the phone has sent to", 3},
		{"dropped", true, ": a NAT that filters by address (most do) lets in only the addresses the phone has sent to", 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			labInviteFromAnotherServer(t, tc.dropInput, tc.want, tc.evidence)
		})
	}
}

func labInviteFromAnotherServer(t *testing.T, dropInput bool, want string, evidence int) {
	l := newKamailioLab(t, natKamailio{})
	r1 := l.lab.Router("r1", natlab.RouterConfig{WAN: "203.0.113.1", LAN: "192.168.1.1/24",
		NAT: natlab.NATConfig{Mapping: natlab.EndpointIndependent, DropInput: dropInput}})
	alice := natlab.StartBaresip(t, r1.LANHost("alice", "192.168.1.10"), natlab.BaresipConfig{User: "100", Registrar: l.registrar, AutoAnswer: true})
	alice.Proc.WaitLog(t, 5*time.Second, "200 OK")
	node2 := l.lab.PublicHost("node2", "203.0.113.21")
	conn, err := node2.ListenUDP("udp4", "203.0.113.21:5060")
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	sdp := "v=0\r\no=node2 1 1 IN IP4 203.0.113.21\r\ns=-\r\nc=IN IP4 203.0.113.21\r\nt=0 0\r\nm=audio 30000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n"
	invite := "INVITE sip:100@203.0.113.1:5060 SIP/2.0\r\nVia: SIP/2.0/UDP 203.0.113.21:5060;branch=z9hG4bKnode2a\r\nMax-Forwards: 69\r\n" +
		"From: <sip:200@203.0.113.20>;tag=n2\r\nTo: <sip:100@203.0.113.20>\r\nCall-ID: node2-call@natdoc.test\r\nCSeq: 1 INVITE\r\n" +
		"Contact: <sip:200@203.0.113.21:5060>\r\nContent-Type: application/sdp\r\nContent-Length: " + fmt.Sprint(len(sdp)) + "\r\n\r\n" + sdp
	to := net.UDPAddrFromAddrPort(netip.MustParseAddrPort("203.0.113.1:5060"))
	for i := range 4 { // the node's qualify pings
		options := fmt.Sprintf("OPTIONS sip:100@203.0.113.1:5060 SIP/2.0\r\nVia: SIP/2.0/UDP 203.0.113.21:5060;branch=z9hG4bKq%d\r\nMax-Forwards: 70\r\n"+
			"From: <sip:node2@203.0.113.21>;tag=q%d\r\nTo: <sip:100@203.0.113.20>\r\nCall-ID: qualify-%d@natdoc.test\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n", i, i, i)
		if _, err := conn.WriteToUDP([]byte(options), to); err != nil {
			t.Fatal(err)
		}
		time.Sleep(250 * time.Millisecond)
	}
	for _, wait := range []time.Duration{500, 1000, 2000, 4000} { // Timer A doubling
		if _, err := conn.WriteToUDP([]byte(invite), to); err != nil {
			t.Fatal(err)
		}
		time.Sleep(wait * time.Millisecond)
	}
	res := l.analyze(t, "invite-from-another-server.pcap")
	if len(res.Calls) != 1 {
		t.Fatalf("%d calls, want 1", len(res.Calls))
	}
	var ping *report.Finding
	for i := range res.Findings {
		if res.Findings[i].ID == IDSIPPeerUnreachable {
			ping = &res.Findings[i]
		}
	}
	if ping == nil || ping.Remedy != remedyFilteredSource || !strings.Contains(ping.Title, "203.0.113.21's OPTIONS requests to 100 at 203.0.113.1:5060 went unanswered ") ||
		!strings.Contains(ping.Title, "but its REGISTERs go to 203.0.113.20, not to 203.0.113.21") {
		t.Errorf("the pings' finding %+v", ping)
	}
	f := findingOf(res.Calls[0], IDRequestUnanswered)
	if f == nil || f.Severity != report.SeverityWarning || !strings.Contains(f.Title, "but its REGISTERs go to 203.0.113.20, not to 203.0.113.21") ||
		!strings.HasSuffix(f.Title, want) || f.Remedy != remedyFilteredSource || len(f.Evidence) != evidence {
		t.Errorf("finding %+v; findings %v", f, findingIDs(res.Calls[0]))
	}
}
