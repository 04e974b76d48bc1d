//go:build linux

package main

import (
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
	dump := bob.StartTcpdump(t, pcap, "udp")
	ra := placeLabCall(t, helper, dir, alice, bob)
	time.Sleep(300 * time.Millisecond)
	dump.Stop()
	serve.Stop()

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

// placeLabCall has alice (behind the NAT, 192.168.1.10) call bob
// (198.51.100.20) for two seconds with natdoc call, through the server at
// 203.0.113.10, and returns alice's report; both reports go to dir.
func placeLabCall(t *testing.T, helper []string, dir string, alice, bob *natlab.Host) *report.Report {
	t.Helper()
	bobCall := bob.Start(t, os.Args[0], append(helper, "call", "--server", "203.0.113.10:5060", "--user", "bob", "--answer", "--wait", "30s",
		"--local-ip", "198.51.100.20", "--sip-port", "5060", "--json", "-o", filepath.Join(dir, "bob.json"))...)
	waitLog(t, bobCall, "waiting up to")
	aliceCall := alice.Start(t, os.Args[0], append(helper, "call", "--server", "203.0.113.10:5060", "--user", "alice", "--local-ip", "192.168.1.10",
		"--sip-port", "5060", "--duration", "2s", "--json", "-o", filepath.Join(dir, "alice.json"), "bob")...)
	aliceCall.Wait()
	bobCall.Wait()
	return loadReport(t, filepath.Join(dir, "alice.json"))
}
