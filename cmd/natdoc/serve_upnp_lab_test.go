//go:build linux

package main

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/natdoc/natdoc/diagnose/igd"
	"github.com/natdoc/natdoc/internal/natlab"
	"github.com/natdoc/natdoc/report"
)

// serveUPnPRun is natdoc serve --upnp on a LAN host behind a real router
// with miniupnpd, whose permission lines are allow (nil: any port), and a
// call through it from a LAN phone (alice) to a phone on the internet
// (bob).
type serveUPnPRun struct {
	alice, bob, serve *report.Report
	// before and after list the router's mappings (upnpc -l) before
	// serve started and after it ended.
	before, after []string
	log           string
}

func runServeUPnP(t *testing.T, allow []string) serveUPnPRun {
	natlab.Require(t)
	lab := natlab.New(t)
	stun := natlab.StartCoturn(t, lab.PublicHost("stun", "203.0.113.20", "203.0.113.21"))
	r1 := lab.Router("r1", natlab.RouterConfig{WAN: "203.0.113.1", LAN: "192.168.1.1/24", NAT: natlab.NATConfig{Mapping: natlab.EndpointIndependent}})
	igd := natlab.StartMiniupnpd(t, r1, natlab.MiniupnpdConfig{STUN: stun.Primary, Allow: allow, Quiet: allow != nil})
	srv := r1.LANHost("srv", "192.168.1.2")
	alice := r1.LANHost("alice", "192.168.1.10")
	bob := lab.PublicHost("bob", "198.51.100.20")

	var run serveUPnPRun
	run.before = igd.Mappings(t, srv)
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
	run.log = serve.Log()
	run.alice, run.bob = loadReport(t, filepath.Join(dir, "alice.json")), loadReport(t, filepath.Join(dir, "bob.json"))
	run.serve = loadReport(t, filepath.Join(dir, "serve.json"))
	run.after = igd.Mappings(t, srv)
	return run
}

// check: both phones hear each other, the relay used rtp, the findings
// include want, and the router's table is as it was.
func (run serveUPnPRun) check(t *testing.T, rtp string, want ...report.FindingID) {
	t.Helper()
	if run.alice.CallTest.Verdict != report.VerdictTwoWay || run.bob.CallTest.Verdict != report.VerdictTwoWay {
		t.Errorf("alice: %s; bob: %s\nserve log:\n%s", run.alice.CallTest.Explain, run.bob.CallTest.Explain, run.log)
	}
	rs := run.serve
	for _, id := range want {
		if !slices.ContainsFunc(rs.Findings, func(f report.Finding) bool { return f.ID == id }) {
			t.Errorf("no finding %s: %+v", id, rs.Findings)
		}
	}
	if rs.Serve.PublicAddr != "203.0.113.1" || rs.Serve.RTPPorts != rtp {
		t.Errorf("serve report: main address %q rtp %q, want rtp %s", rs.Serve.PublicAddr, rs.Serve.RTPPorts, rtp)
	}
	if len(rs.Serve.Calls) != 1 || len(rs.Serve.Calls[0].Legs) != 2 || rs.Serve.Calls[0].Legs[1].Packets == 0 {
		t.Errorf("relayed calls: %+v", rs.Serve.Calls)
	}
	if !slices.Equal(run.before, run.after) {
		t.Errorf("upnpc -l before serve %q, after %q", run.before, run.after)
	}
}

// natdoc serve --upnp forwards SIP and a few RTP pairs from its range; a
// phone on the internet and one on the LAN hear each other, and on exit
// the mappings are gone.
func TestLabServeUPnP(t *testing.T) {
	runServeUPnP(t, nil).check(t, "20000-20007", igd.FindingForwarded)
}

// The router's rules refuse the relay's range 20000-20099 and allow
// 40000-40100: serve --upnp relays there instead, says so, and the call
// works the same.
func TestLabServeUPnPRulesMoveRTP(t *testing.T) {
	run := runServeUPnP(t, []string{"5060 192.168.1.0/24 5060", "40000-40100 192.168.1.0/24 40000-40100"})
	run.check(t, "40000-40007", igd.FindingForwarded, igd.FindingRTPMoved)
}

// natdoc serve --upnp killed with SIGKILL leaves its mappings on the
// router; the next serve with the same journal removes them before it
// forwards its own (here on another RTP range, so the old ones cannot
// simply be overwritten), and after it ends the router's table is as
// it was before the first.
func TestLabServeUPnPKilled(t *testing.T) {
	natlab.Require(t)
	lab := natlab.New(t)
	stun := natlab.StartCoturn(t, lab.PublicHost("stun", "203.0.113.20", "203.0.113.21"))
	r1 := lab.Router("r1", natlab.RouterConfig{WAN: "203.0.113.1", LAN: "192.168.1.1/24", NAT: natlab.NATConfig{Mapping: natlab.EndpointIndependent}})
	igd := natlab.StartMiniupnpd(t, r1, natlab.MiniupnpdConfig{STUN: stun.Primary})
	srv := r1.LANHost("srv", "192.168.1.2")
	before := igd.Mappings(t, srv)
	journal := filepath.Join(t.TempDir(), "journal.jsonl")
	serve := func(rtp string) *natlab.Proc {
		p := srv.Start(t, os.Args[0], "-test.run=^TestHelperNatdoc$", "--", "serve", "--listen", "192.168.1.2:5060", "--upnp", "--upnp-url", igd.RootURL,
			"--upnp-rtp-pairs", "2", "--upnp-journal", journal, "--rtp-ports", rtp, "--allow", "0.0.0.0/0", "--tcp=false", "--echo=false")
		waitLog(t, p, "listening on")
		return p
	}
	first := serve("20000-20099")
	held := igd.Mappings(t, srv)
	first.Kill()
	if left := igd.Mappings(t, srv); !slices.Equal(left, held) || len(held) != len(before)+5 {
		t.Fatalf("after SIGKILL the router has %q, while serve ran %q: want its 5 mappings (SIP, 2 RTP pairs) left", left, held)
	}
	second := serve("30000-30099")
	if !strings.Contains(second.Log(), "removed 5 UPnP mappings an earlier natdoc left") {
		t.Errorf("the second serve did not say it removed the first one's mappings:\n%s", second.Log())
	}
	for _, m := range igd.Mappings(t, srv) {
		if strings.Contains(m, " 2000") {
			t.Errorf("the killed serve's mapping %q is still there", m)
		}
	}
	second.Stop()
	if after := igd.Mappings(t, srv); !slices.Equal(after, before) {
		t.Errorf("upnpc -l before %q, after %q", before, after)
	}
}
