//go:build linux

package main

import (
	"context"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/natdoc/natdoc/internal/natlab"
	"github.com/natdoc/natdoc/report"
)

// TestLabServeRtpengine runs the real command with media on two real
// rtpengines (weights 1 and 2): baresip alice behind `masquerade random`
// with her private address in SDP calls baresip bob on the internet and
// back, natdoc call calls the echo user; every call is two-way by the
// phones' own counts, and serve's report names the engine of each call
// with both parties' counts from it.
func TestLabServeRtpengine(t *testing.T) {
	natlab.Require(t)
	lab := natlab.New(t)
	srv := lab.PublicHost("sip", "203.0.113.10")
	e1 := natlab.StartRtpengine(t, lab.PublicHost("rtpe1", "203.0.113.31"), natlab.RtpengineConfig{})
	e2 := natlab.StartRtpengine(t, lab.PublicHost("rtpe2", "203.0.113.32"), natlab.RtpengineConfig{})
	r1 := lab.Router("r1", natlab.RouterConfig{WAN: "203.0.113.1", LAN: "192.168.1.1/24", NAT: natlab.NATConfig{Mapping: natlab.AddressAndPortDependent}})
	aHost, bHost := r1.LANHost("alice", "192.168.1.10"), lab.PublicHost("bob", "198.51.100.20")
	dir := t.TempDir()
	serve := srv.Start(t, os.Args[0], append(helperArgs, "serve", "--listen", "203.0.113.10:5060", "--allow", "0.0.0.0/0", "--tcp=false",
		"--media", "rtpengine=udp:"+e1.NG.String(), "--media", "rtpengine=udp:"+e2.NG.String()+",weight=2",
		"--json", "-o", filepath.Join(dir, "serve.json"))...)
	waitLog(t, serve, "listening on")
	registrar := netip.MustParseAddrPort("203.0.113.10:5060")
	alice := natlab.StartBaresip(t, aHost, natlab.BaresipConfig{User: "alice", Registrar: registrar, AutoAnswer: true})
	bob := natlab.StartBaresip(t, bHost, natlab.BaresipConfig{User: "bob", Registrar: registrar, AutoAnswer: true})
	waitLog(t, serve, `"user":"alice"`)
	waitLog(t, serve, `"user":"bob"`)
	baresipCall(t, "alice calls bob", alice, bob, "sip:bob@203.0.113.10")
	baresipCall(t, "bob calls alice", bob, alice, "sip:alice@203.0.113.10")
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	out := filepath.Join(dir, "carol.json")
	if log, err := aHost.Run(ctx, os.Args[0], append(helperArgs, "call", "--server", "203.0.113.10:5060", "--user", "carol",
		"--local-ip", "192.168.1.10", "--sip-port", "5062", "--duration", "2s", "--json", "-o", out, "echo")...); err != nil {
		t.Fatalf("natdoc call to echo: %v\n%s", err, log)
	}
	if r := loadReport(t, out); r.CallTest.Verdict != report.VerdictTwoWay {
		t.Errorf("carol -> echo through rtpengine: %s", r.CallTest.Explain)
	}
	if !serve.Terminate(serveStopGrace) {
		t.Errorf("serve did not exit within %s of SIGTERM", serveStopGrace)
	}
	checkEngineReport(t, loadReport(t, filepath.Join(dir, "serve.json")), 3, e1.NG, e2.NG)
}

// checkEngineReport: media on rtpengine, the engines up and listed,
// every one of the calls on one of them with counts for both parties.
func checkEngineReport(t *testing.T, r *report.Report, calls int, engines ...netip.AddrPort) {
	t.Helper()
	s := r.Serve
	if s == nil || s.Media != "rtpengine" || len(s.Engines) != len(engines) || len(s.Calls) != calls {
		t.Fatalf("serve report: %+v", s)
	}
	taken := uint64(0)
	for _, e := range s.Engines {
		taken += e.Calls
		t.Logf("engine %s: up %v, %d calls, stats %v", e.Address, e.Up, e.Calls, e.Stats)
		if !e.Up || e.Failures != 0 {
			t.Errorf("engine %+v", e)
		}
	}
	if taken != uint64(calls) {
		t.Errorf("engines took %d calls, want %d", taken, calls)
	}
	for _, c := range s.Calls {
		if c.Engine == "" || len(c.Legs) != 2 {
			t.Errorf("call %s -> %s: engine %q, legs %+v", c.From, c.To, c.Engine, c.Legs)
			continue
		}
		for _, l := range c.Legs {
			if l.Latched == "" || l.Received == 0 || l.Packets == 0 {
				t.Errorf("call %s -> %s on %s, leg %s: latched %q received %d forwarded to it %d", c.From, c.To, c.Engine, l.Party, l.Latched, l.Received, l.Packets)
			}
		}
	}
	for _, f := range r.Findings {
		if f.Severity.IsProblem() {
			t.Errorf("serve finding %s: %s", f.ID, f.Title)
		}
	}
}

// TestLabServeRtpengineBehindRouter: serve and rtpengine on a LAN PC
// behind the router (masquerade random, UDP 5060 and rtpengine's ports
// forwarded by hand). rtpengine has a LAN interface and one that
// advertises the router's public address; with main=pub,local=priv natdoc
// gives the LAN phone the LAN one (direction=), which it can reach, and the
// phone outside the public one: both call each other two-way. Told the
// public address, the LAN phone would send its audio nowhere (the router
// does not loop packets for its own address back in).
func TestLabServeRtpengineBehindRouter(t *testing.T) {
	natlab.Require(t)
	const engineRTP = "30000-30099"
	rl := newRouterLab(t, routerCell{nat: natlab.AddressAndPortDependent},
		natlab.Forward{Proto: "udp", Ports: "5060", To: serverLAN}, natlab.Forward{Proto: "udp", Ports: engineRTP, To: serverLAN})
	eng := natlab.StartRtpengine(t, rl.srv, natlab.RtpengineConfig{PortMin: 30000, PortMax: 30099,
		NG: netip.MustParseAddrPort(serverLAN + ":2223"), Interfaces: []string{"priv/" + serverLAN, "pub/" + serverLAN + "!" + routerWAN}})
	serve := rl.srv.Start(t, os.Args[0], append(helperArgs, "serve", "--listen", serverLAN+":5060", "--public-addr", routerWAN,
		"--allow", "0.0.0.0/0", "--tcp=false", "--router-check=false", "--media", "rtpengine=udp:"+eng.NG.String()+",main=pub,local=priv",
		"--json", "-o", filepath.Join(rl.dir, "serve.json"))...)
	waitLog(t, serve, "listening on")
	rl.baresipCalls(t, serve)
	if !serve.Terminate(serveStopGrace) {
		t.Errorf("serve did not exit within %s of SIGTERM", serveStopGrace)
	}
	r := loadReport(t, filepath.Join(rl.dir, "serve.json"))
	checkEngineReport(t, r, 2, eng.NG)
	// Alice (on the LAN) latched at her own address, bob at the router's
	// mapping of his: each was given the engine address it could reach.
	for _, c := range r.Serve.Calls {
		for _, l := range c.Legs {
			t.Logf("%s -> %s: %s latched %s (SDP %s), got %d packets", c.From, c.To, l.Party, l.Latched, l.SDPAddr, l.Packets)
		}
	}
}
