//go:build linux

package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/natdoc/natdoc/internal/natlab"
	"github.com/natdoc/natdoc/report"
)

func loadReport(t *testing.T, path string) *report.Report {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("report %s: %v", path, err)
	}
	var r report.Report
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatalf("report %s: %v", path, err)
	}
	return &r
}

// natdoc serve --upnp on a LAN host behind a real router with miniupnpd:
// it forwards SIP and a few RTP pairs, a phone on the internet (bob) calls
// through the forwarded ports with a phone on the LAN (alice), both hear
// each other, and on exit the mappings are gone.
func TestLabServeUPnP(t *testing.T) {
	natlab.Require(t)
	lab := natlab.New(t)
	stun := natlab.StartCoturn(t, lab.PublicHost("stun", "203.0.113.20", "203.0.113.21"))
	r1 := lab.Router("r1", natlab.RouterConfig{WAN: "203.0.113.1", LAN: "192.168.1.1/24", NAT: natlab.NATConfig{Mapping: natlab.EndpointIndependent}})
	igd := natlab.StartMiniupnpd(t, r1, natlab.MiniupnpdConfig{STUN: stun.Primary})
	srv := r1.LANHost("srv", "192.168.1.2")
	alice := r1.LANHost("alice", "192.168.1.10")
	bob := lab.PublicHost("bob", "198.51.100.20")

	dir := t.TempDir()
	helper := []string{"-test.run=^TestHelperNatdoc$", "--"}
	serve := srv.Start(t, os.Args[0], append(helper, "serve", "--listen", "192.168.1.2:5060", "--local-addr", "192.168.1.2", "--lan", "192.168.1.0/24",
		"--upnp", "--upnp-url", igd.RootURL, "--upnp-rtp-pairs", "4", "--upnp-journal", filepath.Join(dir, "journal.jsonl"),
		"--rtp-ports", "20000-20099", "--allow", "0.0.0.0/0", "--tcp=false", "--echo=false", "--json", "-o", filepath.Join(dir, "serve.json"))...)
	waitLog(t, serve, "listening on")
	bobCall := bob.Start(t, os.Args[0], append(helper, "call", "--server", "203.0.113.1:5060", "--user", "bob", "--answer", "--wait", "30s",
		"--local-ip", "198.51.100.20", "--sip-port", "5060", "--json", "-o", filepath.Join(dir, "bob.json"))...)
	waitLog(t, bobCall, "waiting up to")
	aliceCall := alice.Start(t, os.Args[0], append(helper, "call", "--server", "192.168.1.2:5060", "--user", "alice", "--local-ip", "192.168.1.10",
		"--duration", "2s", "--json", "-o", filepath.Join(dir, "alice.json"), "bob")...)
	aliceCall.Wait()
	bobCall.Wait()
	serve.Stop()

	ra, rb := loadReport(t, filepath.Join(dir, "alice.json")), loadReport(t, filepath.Join(dir, "bob.json"))
	if ra.CallTest.Verdict != report.VerdictTwoWay || rb.CallTest.Verdict != report.VerdictTwoWay {
		t.Errorf("alice: %s; bob: %s\nserve log:\n%s", ra.CallTest.Explain, rb.CallTest.Explain, serve.Log())
	}
	rs := loadReport(t, filepath.Join(dir, "serve.json"))
	ids := map[report.FindingID]bool{}
	for _, f := range rs.Findings {
		ids[f.ID] = true
	}
	if !ids["upnp-forwarded"] || rs.Serve.PublicAddr != "203.0.113.1" || rs.Serve.RTPPorts != "20000-20007" {
		t.Errorf("serve report: findings %v main address %q rtp %q", ids, rs.Serve.PublicAddr, rs.Serve.RTPPorts)
	}
	if len(rs.Serve.Calls) != 1 || len(rs.Serve.Calls[0].Legs) != 2 || rs.Serve.Calls[0].Legs[1].Packets == 0 {
		t.Errorf("relayed calls: %+v", rs.Serve.Calls)
	}
	// Every mapping is gone from the router after serve ended.
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	out, err := srv.Run(ctx, "upnpc", "-i", "-u", igd.RootURL, "-l")
	t.Logf("upnpc -l after exit:\n%s", out)
	if err != nil || !strings.Contains(string(out), "ExternalIPAddress") {
		t.Fatalf("upnpc could not list the router's mappings: %v\n%s", err, out)
	}
	if strings.Contains(string(out), "5060") || strings.Contains(string(out), "20000") {
		t.Errorf("mappings left on the router:\n%s", out)
	}
}

func waitLog(t *testing.T, p *natlab.Proc, want string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !strings.Contains(p.Log(), want) {
		if time.Now().After(deadline) {
			t.Fatalf("%q not in log:\n%s", want, p.Log())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// The broken row of the proof matrix, captured: natdoc serve --fix=false
// on the internet, alice behind a real masquerade with her private address
// in SDP calls bob; tcpdump at bob; natdoc analyze on that capture gives
// the verdict the phones measured: one-way, the caller cannot hear.
func TestLabAnalyzeBrokenRow(t *testing.T) {
	natlab.Require(t)
	lab := natlab.New(t)
	srv := lab.PublicHost("sip", "203.0.113.10")
	r1 := lab.Router("r1", natlab.RouterConfig{WAN: "203.0.113.1", LAN: "192.168.1.1/24", NAT: natlab.NATConfig{Mapping: natlab.EndpointIndependent}})
	alice := r1.LANHost("alice", "192.168.1.10")
	bob := lab.PublicHost("bob", "198.51.100.20")

	dir := t.TempDir()
	pcap := filepath.Join(dir, "bob.pcap")
	helper := []string{"-test.run=^TestHelperNatdoc$", "--"}
	serve := srv.Start(t, os.Args[0], append(helper, "serve", "--listen", "203.0.113.10:5060", "--fix=false", "--allow", "0.0.0.0/0",
		"--tcp=false", "--echo=false")...)
	waitLog(t, serve, "listening on")
	dump := bob.Start(t, "tcpdump", "-i", "eth0", "-n", "-U", "-s", "0", "-w", pcap, "udp")
	time.Sleep(500 * time.Millisecond) // tcpdump opens its socket
	bobCall := bob.Start(t, os.Args[0], append(helper, "call", "--server", "203.0.113.10:5060", "--user", "bob", "--answer", "--wait", "30s",
		"--local-ip", "198.51.100.20", "--sip-port", "5060", "--json", "-o", filepath.Join(dir, "bob.json"))...)
	waitLog(t, bobCall, "waiting up to")
	aliceCall := alice.Start(t, os.Args[0], append(helper, "call", "--server", "203.0.113.10:5060", "--user", "alice", "--local-ip", "192.168.1.10",
		"--sip-port", "5060", "--duration", "2s", "--json", "-o", filepath.Join(dir, "alice.json"), "bob")...)
	aliceCall.Wait()
	bobCall.Wait()
	time.Sleep(300 * time.Millisecond)
	dump.Stop()
	serve.Stop()

	ra := loadReport(t, filepath.Join(dir, "alice.json"))
	if ra.CallTest.Verdict != report.VerdictOneWay || ra.CallTest.CannotHear != "local" {
		t.Fatalf("alice measured %s (%s)", ra.CallTest.Verdict, ra.CallTest.Explain)
	}
	code, out, stderr := run(t, "analyze", "--json", pcap)
	if code != exitProblems {
		t.Fatalf("analyze exit %d: %s", code, stderr)
	}
	var rep report.Report
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatal(err)
	}
	var found bool
	for _, c := range rep.Calls {
		if c.CallID == ra.CallTest.CallID {
			found = true
			if c.Verdict != report.VerdictOneWay || c.CannotHear != "caller" {
				t.Errorf("analyze says %s, cannot hear %q (%s); the phones measured one-way, the caller cannot hear", c.Verdict, c.CannotHear, c.Explain)
			}
		}
	}
	if !found {
		t.Errorf("analyze did not find call %s in the capture: %+v", ra.CallTest.CallID, rep.Calls)
	}
}
