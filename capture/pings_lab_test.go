//go:build linux

package capture

import (
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/natdoc/natdoc/internal/natlab"
	"github.com/natdoc/natdoc/report"
)

// TestLabPingsUnansweredAfterNATTimeout: Alice's baresip registers from
// behind a router whose NAT forgets an idle UDP mapping after 3 s; she
// registers for ten minutes and sends nothing more. Kamailio pings her
// every 5 s (nathelper's SIP OPTIONS, as a server keeps its NATed phones
// in sight): the first pings find the mapping gone and go unanswered,
// while Alice sends nothing. The finding says Kamailio's OPTIONS to
// where she registered from went unanswered in a row, and why calls to
// her fail; the remedy is to keep the NAT open.
func TestLabPingsUnansweredAfterNATTimeout(t *testing.T) {
	t.Parallel() // it mostly waits on the phones' and servers' timers
	natlab.Require(t)
	lab := natlab.New(t)
	r1 := lab.Router("r1", natlab.RouterConfig{WAN: "203.0.113.1", LAN: "192.168.1.1/24",
		NAT: natlab.NATConfig{Mapping: natlab.EndpointIndependent, UDPTimeout: 3 * time.Second, UDPStreamTimeout: 3 * time.Second}})
	startNATKamailio(t, lab.PublicHost("server", "203.0.113.20"), "203.0.113.20", natKamailio{pingEvery: 5 * time.Second})
	pcap := filepath.Join(t.TempDir(), "switch.pcap")
	dump := lab.Core().StartTcpdumpOn(t, "br0", pcap, "udp or icmp")
	alice := natlab.StartBaresip(t, r1.LANHost("alice", "192.168.1.10"), natlab.BaresipConfig{User: "100", Registrar: netip.MustParseAddrPort("203.0.113.20:5060"), AutoAnswer: true})
	time.Sleep(58 * time.Second) // pings at 5-25 s, 32 s unanswered each
	f := stopAndFind(t, alice, dump, pcap, "pings-nat-timeout.pcap", IDSIPPeerUnreachable)
	if !strings.HasPrefix(f.Title, "203.0.113.20's OPTIONS requests to 100 at 203.0.113.1:") || !strings.Contains(f.Title, "while 100 sent nothing") ||
		f.Remedy != remedyKeepAlive || f.Severity != report.SeverityWarning {
		t.Errorf("finding %+v", f)
	}
}

// stopAndFind stops the phone and the capture (kept as name in
// NATDOC_KEEP_GEN's folder, when set) and returns the capture's finding
// id.
func stopAndFind(t *testing.T, phone *natlab.Baresip, dump *natlab.Proc, pcap, name string, id report.FindingID) *report.Finding {
	t.Helper()
	phone.Proc.Stop()
	time.Sleep(300 * time.Millisecond)
	dump.Stop()
	if dir := os.Getenv("NATDOC_KEEP_GEN"); dir != "" {
		data, _ := os.ReadFile(pcap)
		_ = os.WriteFile(filepath.Join(dir, name), data, 0o644)
	}
	res := analyzePath(t, pcap)
	f := captureFinding(res, id)
	if f == nil {
		t.Fatalf("no %s finding: %+v", id, res.Findings)
	}
	return f
}
