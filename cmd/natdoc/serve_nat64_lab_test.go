//go:build linux

package main

import (
	"encoding/json"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/natdoc/natdoc/internal/natlab"
	"github.com/natdoc/natdoc/report"
)

// TestLabServeNAT64Phone: natdoc serve on the internet (IPv4 only), alice
// on IPv4 and bob on an IPv6-only network behind a real NAT64 (tayga),
// registered at 2001:db8:64::203.0.113.5. serve learns bob's NAT64 prefix
// from his requests and gives him its own address in it (Via,
// Record-Route, the relay's SDP): bob can send his ACK, BYE and media,
// which the relay gets from the NAT64's mapping. Real baresip phones call
// each other both ways, two-way by their own counts; natdoc analyze on
// the server's capture agrees and blames nothing.
func TestLabServeNAT64Phone(t *testing.T) {
	natlab.Require(t)
	t.Parallel()
	lab := natlab.New(t)
	srv := lab.PublicHost("srv", "203.0.113.5")
	r1 := lab.Router("nat64", natlab.RouterConfig{WAN: "203.0.113.64", LAN: "192.168.1.1/24", NAT: natlab.NATConfig{Mapping: natlab.EndpointIndependent}})
	r1.StartNAT64(t)
	bobHost := r1.LANHostIPv6("bob", "192.168.1.10", "2001:db8:1::10")
	dir := t.TempDir()
	pcap := filepath.Join(dir, "srv.pcap")
	dump := srv.StartTcpdump(t, pcap, "udp")
	serve := srv.Start(t, os.Args[0], append(helperArgs, "serve", "--listen", "203.0.113.5:5060", "--rtp-ports", "20000-20099",
		"--allow", "0.0.0.0/0", "--tcp=false", "--echo=false")...)
	waitLog(t, serve, "listening on")
	server := netip.MustParseAddrPort("203.0.113.5:5060")
	viaNAT64 := netip.AddrPortFrom(natlab.NAT64Addr(server.Addr()), server.Port())
	alice := natlab.StartBaresip(t, lab.PublicHost("alice", "198.51.100.20"), natlab.BaresipConfig{User: "alice", Registrar: server, AutoAnswer: true})
	bob := natlab.StartBaresip(t, bobHost, natlab.BaresipConfig{User: "bob", Listen: netip.MustParseAddr("2001:db8:1::10"), Registrar: viaNAT64, AutoAnswer: true})
	waitLog(t, serve, "user=alice")
	waitLog(t, serve, "through NAT64: given this server at 2001:db8:64::cb00:7105")
	baresipCall(t, "alice calls bob", alice, bob, "sip:bob@"+server.Addr().String())
	baresipCall(t, "bob calls alice", bob, alice, "sip:alice@"+viaNAT64.String())
	time.Sleep(300 * time.Millisecond)
	dump.Stop()
	serve.Stop()

	code, out, stderr := run(t, "analyze", "--json", pcap)
	if code != exitOK {
		t.Errorf("analyze exit %d: %s", code, stderr)
	}
	var rep report.Report
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatal(err)
	}
	for _, c := range rep.Calls {
		if c.Verdict != report.VerdictTwoWay {
			t.Errorf("call %s: %s (%s)", c.CallID, c.Verdict, c.Explain)
		}
	}
	if len(rep.Calls) != 2 {
		t.Errorf("%d calls analyzed, want 2", len(rep.Calls))
	}
	for _, f := range rep.Findings {
		if f.Severity == report.SeverityWarning || f.Severity == report.SeverityError {
			t.Errorf("finding %s: %s", f.ID, f.Title)
		}
	}
}
