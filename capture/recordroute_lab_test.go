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

// TestLabRecordRoutePrivate: Kamailio behind a router (203.0.113.1,
// forwarding UDP 5060 to it at 192.168.1.5) without its public address
// set (no advertise) Record-Routes its private address. Two public phones
// (baresip) call through it: the INVITE and its answer pass, but the
// caller's ACK, and later its BYE, follow the route set to 192.168.1.5,
// which nobody outside can reach. The callee resends its answer, and 32 s
// on ends the call (its BYE lost the same way) and its media. Taken at the
// caller and at the proxy, the unacknowledged answer names the private
// Record-Route with the remedy to Record-Route the public address; the
// caller's lost BYE gets that remedy too; and the callee's media ending
// with the call it gave up is no one-way audio.
func TestLabRecordRoutePrivate(t *testing.T) {
	natlab.Require(t)
	t.Parallel()
	lab := natlab.New(t)
	r1 := lab.Router("r1", natlab.RouterConfig{WAN: "203.0.113.1", LAN: "192.168.1.1/24", NAT: natlab.NATConfig{
		Mapping: natlab.EndpointIndependent, Forwards: []natlab.Forward{{Proto: "udp", Ports: "5060", To: "192.168.1.5"}},
	}})
	proxy := r1.LANHost("proxy", "192.168.1.5")
	a := lab.PublicHost("alice", "203.0.113.10")
	b := lab.PublicHost("bob", "203.0.113.11")
	startKamailio(t, proxy, "192.168.1.5", false, netip.AddrPort{})
	dir := t.TempDir()
	alicePcap, proxyPcap := filepath.Join(dir, "alice.pcap"), filepath.Join(dir, "proxy.pcap")
	aliceDump := a.StartTcpdump(t, alicePcap, "udp or icmp")
	proxyDump := proxy.StartTcpdump(t, proxyPcap, "udp or icmp")
	registrar := netip.MustParseAddrPort("203.0.113.1:5060")
	answering := natlab.StartBaresip(t, b, natlab.BaresipConfig{User: "200", Registrar: registrar, AutoAnswer: true})
	time.Sleep(2 * time.Second) // the REGISTER and its 200 OK
	calling := natlab.StartBaresip(t, a, natlab.BaresipConfig{User: "100", Registrar: registrar, Dial: "sip:200@203.0.113.1"})
	// The callee gives up on the ACK 32 s after its answer; the caller,
	// which knows nothing of it, talks on until stopped, and its BYE
	// follows the route set too.
	time.Sleep(36 * time.Second)
	calling.Proc.Stop()
	time.Sleep(time.Second)
	answering.Proc.Stop()
	aliceDump.Stop()
	proxyDump.Stop()

	for _, p := range []string{alicePcap, proxyPcap} {
		res := analyzePath(t, p)
		name := filepath.Base(p)
		if len(res.Calls) != 1 {
			t.Fatalf("%s: %d calls, want 1", name, len(res.Calls))
		}
		c := res.Calls[0]
		t.Logf("%s: %s (%s) %v", name, c.Verdict, c.Explain, findingIDs(c))
		f := findingByID(c.Findings, IDAnswerNotAcknowledged)
		want := "the answer's Record-Route names the private address 192.168.1.5:5060, where the caller's ACK"
		if f == nil || f.Remedy != remedyRecordRoutePrivate || !strings.Contains(evidenceTexts(f), want) {
			t.Errorf("%s: finding %+v, want %q", name, f, want)
		}
		if name == "alice.pcap" {
			if c.Verdict != report.VerdictTwoWay {
				t.Errorf("alice.pcap: %s, want two-way: the callee's media ended with the call it gave up", c.Verdict)
			}
			if bye := findingByID(res.Findings, IDRequestToPrivate); bye == nil || bye.Remedy != remedyRecordRoutePrivate {
				t.Errorf("alice.pcap: lost BYE %+v", bye)
			}
		}
		keepLabFile(t, p, "record-route-private-"+name)
	}
}

// TestLabDoubleRecordRoutePrivate: Kamailio on a router of its own with
// two interfaces, the phones' LAN (10.10.0.1) and a WAN (192.168.1.5)
// behind another router (203.0.113.1, forwarding UDP 5060 to it), without
// its public address set. Passing a LAN phone's INVITE to a public phone
// it Record-Routes both (RFC 5658's double Record-Route): first its WAN
// address, the first hop of the callee's requests, private. The callee
// hangs up; its BYE goes to 192.168.1.5, which nobody outside can reach.
// Taken at the callee, the lost BYE names the INVITE's Record-Route with
// the remedy to Record-Route the public address, not the Contact's.
func TestLabDoubleRecordRoutePrivate(t *testing.T) {
	natlab.Require(t)
	t.Parallel()
	lab := natlab.New(t)
	r1 := lab.Router("r1", natlab.RouterConfig{WAN: "203.0.113.1", LAN: "192.168.1.1/24", NAT: natlab.NATConfig{
		Mapping: natlab.EndpointIndependent, Forwards: []natlab.Forward{{Proto: "udp", Ports: "5060", To: "192.168.1.5"}},
	}})
	r2 := lab.Router("r2", natlab.RouterConfig{WAN: "192.168.1.5", LAN: "10.10.0.1/24", Upstream: r1,
		NAT: natlab.NATConfig{Mapping: natlab.EndpointIndependent}})
	alice := r2.LANHost("alice", "10.10.0.10")
	bob := lab.PublicHost("bob", "203.0.113.11")
	dir := t.TempDir()
	cfg := filepath.Join(dir, "kamailio.cfg")
	if err := os.WriteFile(cfg, []byte(kamailioConfig(false, "")), 0o644); err != nil {
		t.Fatal(err)
	}
	r2.Start(t, "kamailio", "-f", cfg, "-l", "udp:192.168.1.5:5060", "-l", "udp:10.10.0.1:5060", "-m", "64", "-M", "8", "-DD", "-E",
		"-w", dir, "-P", filepath.Join(dir, "kamailio.pid"))
	waitUDP(t, r2.Host, "10.10.0.1:5060")
	bobPcap := filepath.Join(dir, "bob.pcap")
	dump := bob.StartTcpdump(t, bobPcap, "udp or icmp")
	answering := natlab.StartBaresip(t, bob, natlab.BaresipConfig{User: "200", Registrar: netip.MustParseAddrPort("203.0.113.1:5060"),
		AutoAnswer: true, Seconds: 6})
	time.Sleep(2 * time.Second) // the REGISTER and its 200 OK
	calling := natlab.StartBaresip(t, alice, natlab.BaresipConfig{User: "100", Registrar: netip.MustParseAddrPort("10.10.0.1:5060"),
		Dial: "sip:200@10.10.0.1", Seconds: 12})
	endLabCall(t, calling.Proc, 30*time.Second, answering.Proc, dump)

	res := analyzePath(t, bobPcap)
	bye := findingByID(res.Findings, IDRequestToPrivate)
	want := "an INVITE to a public party Record-Routes 192.168.1.5:5060 first"
	if bye == nil || bye.Remedy != remedyRecordRoutePrivate || !strings.Contains(evidenceTexts(bye), want) ||
		!strings.Contains(bye.Evidence[0].Text, "BYE 203.0.113.11:5060 → 192.168.1.5:5060") {
		t.Errorf("lost BYE %+v, want %q", bye, want)
	}
	keepLabFile(t, bobPcap, "double-record-route-private.pcap")
}
