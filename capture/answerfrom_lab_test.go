//go:build linux

package capture

import (
	"fmt"
	"net"
	"net/netip"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/natdoc/natdoc/internal/natlab"
	"github.com/natdoc/natdoc/report"
)

// TestLabAnswerFromAnotherAddress: a registrar on a host with two
// addresses, its socket bound to all of them (Asterisk's bindaddr=0.0.0.0),
// takes Alice's REGISTER at its second address and answers 200 OK from
// its first, as the kernel picks the source. Her router lets in only
// what comes from where she sent: the 200 OK never reaches her, and she
// resends her REGISTER. The finding says the answer came from another
// address, with the remedy to answer from the address asked.
func TestLabAnswerFromAnotherAddress(t *testing.T) {
	t.Parallel()
	lab := natlab.New(t)
	server := lab.PublicHost("server", "203.0.113.20", "203.0.113.22")
	conn := listenLab(t, server, "0.0.0.0:5060")
	go answerAsServerNode(conn, nil)
	pcap := filepath.Join(t.TempDir(), "switch.pcap")
	dump := lab.Core().StartTcpdumpOn(t, "br0", pcap, "udp or icmp")
	r1 := lab.Router("r1", natlab.RouterConfig{WAN: "203.0.113.1", LAN: "192.168.1.1/24", NAT: natlab.NATConfig{Mapping: natlab.EndpointIndependent}})
	alice := natlab.StartBaresip(t, r1.LANHost("alice", "192.168.1.10"), natlab.BaresipConfig{User: "100",
		Registrar: netip.MustParseAddrPort("203.0.113.22:5060")})
	time.Sleep(4 * time.Second) // her REGISTER resent (Timer E: 0.5, 1, 2 s)
	alice.Proc.Stop()
	time.Sleep(300 * time.Millisecond)
	dump.Stop()
	keepLabFile(t, pcap, "answer-from-another-address.pcap")
	res := analyzePath(t, pcap)
	var f *report.Finding
	for i := range res.Findings {
		if res.Findings[i].ID == IDResponsesLost {
			f = &res.Findings[i]
		}
	}
	if f == nil || f.Remedy != remedyAnswerFromAddressAsked ||
		!strings.Contains(f.Title, "it came from 203.0.113.20:5060, not from 203.0.113.22:5060 where the request went") {
		t.Errorf("finding %+v; all %+v", f, res.Findings)
	}
}

// labInvite is an INVITE a server node answered, and where it came from.
type labInvite struct {
	msg  string
	from *net.UDPAddr
}

// answerAsServerNode answers on conn, from whatever source address the
// kernel picks, every REGISTER 200 OK (echoing its Via, From, To with a
// tag, Call-ID, CSeq and Contact) and, when invites is not nil, every
// INVITE 200 OK with an SDP of PCMU at the node's 30000, handing the
// INVITE on; other requests go unanswered.
func answerAsServerNode(conn *net.UDPConn, invites chan<- labInvite) {
	buf := make([]byte, 8192)
	for {
		n, from, err := conn.ReadFromUDP(buf)
		if err != nil {
			return
		}
		msg := string(buf[:n])
		register := strings.HasPrefix(msg, "REGISTER ")
		if !register && (invites == nil || !strings.HasPrefix(msg, "INVITE ")) {
			continue
		}
		var ok strings.Builder
		ok.WriteString("SIP/2.0 200 OK\r\n")
		for _, line := range strings.Split(msg, "\r\n") {
			name, _, _ := strings.Cut(line, ":")
			switch strings.ToLower(strings.TrimSpace(name)) {
			case "via", "from", "call-id", "cseq":
				ok.WriteString(line + "\r\n")
			case "to":
				ok.WriteString(line + ";tag=uas1\r\n")
			case "contact":
				if register {
					ok.WriteString(line + "\r\n")
				}
			}
		}
		if register {
			ok.WriteString("Expires: 600\r\nContent-Length: 0\r\n\r\n")
		} else {
			node := netip.MustParseAddrPort(conn.LocalAddr().String()).Addr()
			sdp := fmt.Sprintf("v=0\r\no=uas 1 1 IN IP4 %s\r\ns=-\r\nc=IN IP4 %s\r\nt=0 0\r\nm=audio 30000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n", node, node)
			fmt.Fprintf(&ok, "Contact: <sip:uas@%s:5060>\r\nContent-Type: application/sdp\r\nContent-Length: %d\r\n\r\n%s", node, len(sdp), sdp)
			invites <- labInvite{msg, from}
		}
		_, _ = conn.WriteToUDP([]byte(ok.String()), from)
	}
}
