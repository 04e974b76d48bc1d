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
	startKamailioPinging(t, lab.PublicHost("server", "203.0.113.20"), "203.0.113.20")
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

// startKamailioPinging runs the lab's Kamailio with nathelper pinging
// every registered contact with SIP OPTIONS every 5 s, at the address
// its REGISTER came from (fix_nated_register).
func startKamailioPinging(t *testing.T, h *natlab.Host, addr string) {
	t.Helper()
	dir := t.TempDir()
	cfg := kamailioConfig(false, "")
	cfg = strings.Replace(cfg, "modparam(\"usrloc\", \"db_mode\", 0)\n", "loadmodule \"nathelper.so\"\nmodparam(\"usrloc\", \"db_mode\", 0)\n"+
		"modparam(\"nathelper\", \"received_avp\", \"$avp(RECEIVED)\")\nmodparam(\"registrar\", \"received_avp\", \"$avp(RECEIVED)\")\n"+
		"modparam(\"nathelper\", \"natping_interval\", 5)\nmodparam(\"nathelper\", \"ping_nated_only\", 0)\n"+
		"modparam(\"nathelper\", \"sipping_bflag\", 7)\nmodparam(\"nathelper\", \"sipping_from\", \"sip:pinger@"+addr+"\")\n", 1)
	cfg = strings.Replace(cfg, "\t\tif (!save(\"location\")) {", "\t\tsetbflag(7);\n\t\tfix_nated_register();\n\t\tif (!save(\"location\")) {", 1)
	path := filepath.Join(dir, "kamailio.cfg")
	if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	h.Start(t, "kamailio", "-f", path, "-l", "udp:"+addr+":5060", "-m", "64", "-M", "8", "-DD", "-E",
		"-w", dir, "-P", filepath.Join(dir, "kamailio.pid"))
	waitUDP(t, h, addr+":5060")
}

// TestLabRegisterToServerNotForwarded: a SIP server behind its router,
// whose owner forgot to forward UDP 5060: Bob's phone on the internet
// registers at the router's public address and the router answers each
// REGISTER with ICMP port unreachable. natdoc, on the internet's side,
// says Bob's REGISTERs got no response at all, with the ICMP errors,
// and the remedy names the registrar's port forwarding.
func TestLabRegisterToServerNotForwarded(t *testing.T) {
	t.Parallel() // it mostly waits on the phones' and servers' timers
	natlab.Require(t)
	lab := natlab.New(t)
	r1 := lab.Router("r1", natlab.RouterConfig{WAN: "203.0.113.1", LAN: "192.168.1.1/24", NAT: natlab.NATConfig{Mapping: natlab.EndpointIndependent}})
	startKamailio(t, r1.LANHost("pbx", "192.168.1.20"), "192.168.1.20", false, netip.AddrPort{})
	pcap := filepath.Join(t.TempDir(), "switch.pcap")
	dump := lab.Core().StartTcpdumpOn(t, "br0", pcap, "udp or icmp")
	bob := natlab.StartBaresip(t, lab.PublicHost("bob", "203.0.113.11"), natlab.BaresipConfig{User: "200", Registrar: netip.MustParseAddrPort("203.0.113.1:5060")})
	time.Sleep(36 * time.Second) // Timer F ends the first REGISTER
	f := stopAndFind(t, bob, dump, pcap, "register-not-forwarded.pcap", IDRegisterUnanswered)
	icmp := false
	for _, e := range f.Evidence {
		icmp = icmp || strings.HasPrefix(e.Text, "ICMP destination unreachable came back from 203.0.113.1") && strings.Contains(e.Text, "port unreachable")
	}
	if !strings.HasPrefix(f.Title, "200's REGISTERs to 203.0.113.1:5060 got no response at all") || !icmp || f.Remedy != remedyRegistrarUnreachable {
		t.Errorf("finding %+v", f)
	}
}
