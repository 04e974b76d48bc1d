//go:build linux

package capture

import (
	"net/netip"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/natdoc/natdoc/internal/natlab"
	"github.com/natdoc/natdoc/report"
)

// registerOverTCP has Alice's baresip, behind her router's NAT, register
// over TCP for 20 s at a Kamailio on the internet that cannot take the
// connection (tcp: Kamailio listens on TCP; block: what else stops it),
// captured on the internet's switch, and returns the capture's
// sip-tcp-connect-failed finding.
func registerOverTCP(t *testing.T, tcp bool, block func(server *natlab.Host)) report.Finding {
	natlab.Require(t)
	lab := natlab.New(t)
	r1 := lab.Router("r1", natlab.RouterConfig{WAN: "203.0.113.1", LAN: "192.168.1.1/24",
		NAT: natlab.NATConfig{Mapping: natlab.EndpointIndependent}})
	server := lab.PublicHost("server", "203.0.113.20")
	startNATKamailio(t, server, "203.0.113.20", natKamailio{tcp: tcp})
	if block != nil {
		block(server)
	}
	pcap := filepath.Join(t.TempDir(), "switch.pcap")
	dump := lab.Core().StartTcpdumpOn(t, "br0", pcap, "tcp or udp or icmp")
	alice := natlab.StartBaresip(t, r1.LANHost("alice", "192.168.1.10"), natlab.BaresipConfig{User: "100",
		Registrar: netip.MustParseAddrPort("203.0.113.20:5060"), Transport: "tcp"})
	time.Sleep(20 * time.Second)
	alice.Proc.Stop()
	time.Sleep(300 * time.Millisecond)
	dump.Stop()
	res := analyzePath(t, pcap)
	var found []report.Finding
	for _, f := range res.Findings {
		if f.ID == IDTCPConnectFailed {
			found = append(found, f)
		}
	}
	if len(found) != 1 {
		t.Fatalf("%d %s findings, want 1: %+v", len(found), IDTCPConnectFailed, res.Findings)
	}
	f := found[0]
	if f.Severity != report.SeverityWarning || f.Subject != "203.0.113.20:5060" || f.Remedy != remedyRegistrarUnreachable ||
		!strings.HasPrefix(f.Title, "203.0.113.1 could not open a TCP connection to the SIP server 203.0.113.20:5060: ") ||
		!strings.HasSuffix(f.Title, "so the SIP it had to send there (a REGISTER, a call) never left") {
		t.Errorf("finding %+v", f)
	}
	return f
}

// TestLabRegisterTCPRefused: a phone set to SIP over TCP, its registrar
// (Kamailio) listening on UDP only: the kernel there resets the phone's
// connection, no REGISTER ever leaves, and the capture holds only a SYN
// and a reset. natdoc said nothing ("No SIP calls"); the finding says
// nothing takes SIP over TCP there.
func TestLabRegisterTCPRefused(t *testing.T) {
	t.Parallel() // it waits on the phone
	f := registerOverTCP(t, false, nil)
	if !strings.Contains(f.Title, "203.0.113.20 refused it (a reset): nothing takes SIP over TCP there") ||
		!strings.Contains(f.Evidence[0].Text, "203.0.113.20 refused it with a reset") {
		t.Errorf("finding %+v", f)
	}
}

// TestLabRegisterTCPDropped: the registrar takes SIP over TCP, but a
// firewall on its host drops connections to 5060/tcp: the phone's SYNs go
// unanswered (resent for 19 s), no REGISTER leaves.
func TestLabRegisterTCPDropped(t *testing.T) {
	t.Parallel() // it waits on the phone
	f := registerOverTCP(t, true, func(server *natlab.Host) {
		server.Nft(t, "table inet block {\n chain input {\n type filter hook input priority 0; policy accept;\n tcp dport 5060 drop\n }\n}\n")
	})
	if !strings.Contains(f.Title, "nothing answered: a firewall on the way drops it") || !strings.Contains(f.Evidence[0].Text, "; SYNs sent over ") {
		t.Errorf("finding %+v", f)
	}
}
