//go:build linux

package capture

import (
	"bytes"
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
	conn, err := server.ListenUDP("udp4", "0.0.0.0:5060")
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	go answerRegisters(conn)
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

// answerRegisters answers every REGISTER on conn 200 OK, echoing its
// Via, From, To (with a tag), Call-ID, CSeq and Contact, from whatever
// source address the kernel picks.
func answerRegisters(conn *net.UDPConn) {
	buf := make([]byte, 4096)
	for {
		n, from, err := conn.ReadFromUDP(buf)
		if err != nil {
			return
		}
		msg := buf[:n]
		if !bytes.HasPrefix(msg, []byte("REGISTER ")) {
			continue
		}
		var ok strings.Builder
		ok.WriteString("SIP/2.0 200 OK\r\n")
		for _, line := range strings.Split(string(msg), "\r\n") {
			name, _, _ := strings.Cut(line, ":")
			switch strings.ToLower(strings.TrimSpace(name)) {
			case "via", "from", "call-id", "cseq", "contact":
				ok.WriteString(line + "\r\n")
			case "to":
				ok.WriteString(line + ";tag=reg1\r\n")
			}
		}
		ok.WriteString("Expires: 600\r\nContent-Length: 0\r\n\r\n")
		_, _ = conn.WriteToUDP([]byte(ok.String()), from)
	}
}
