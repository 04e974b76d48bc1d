//go:build linux

package main

import (
	"context"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/natdoc/natdoc/internal/natlab"
	"github.com/natdoc/natdoc/report"
)

// The proof matrix of the deployment most small offices have: natdoc serve
// on a LAN PC behind the router, serving one phone on the LAN and one on
// the internet. The router maps endpoint-independently (masquerade) or
// address-and-port-dependently (masquerade random) and forwards UDP 5060
// and the RTP range to the PC by hand (nftables DNAT) or because natdoc
// serve asked (UPnP, a real miniupnpd). In every cell real baresip phones
// call each other both ways and natdoc call calls the echo user from both
// sides; every call must be two-way by the phones' own counts, and after
// serve ends (SIGTERM) the router's UPnP table is empty again.

const (
	routerWAN  = "203.0.113.1"
	serverLAN  = "192.168.1.2"
	lanPhoneIP = "192.168.1.10"
	outPhoneIP = "198.51.100.20"
	mirrorAddr = "203.0.113.30:5060"
	stunAddr   = "203.0.113.20:3478"
	matrixRTP  = "20000-20099"
	// baresipAudioWithin: baresip starts its audio about 3 s after the
	// answer here, more on a loaded machine.
	baresipAudioWithin = 20 * time.Second
	// baresipTalk: how long the phones talk once audio flows both ways.
	// rtcpsummary has counts only once RTCP (every 5 s) arrived, and a
	// phone behind a NAT that filters by address and port gets the relay's
	// RTCP only after its own first RTCP opened the NAT: up to two RTCP
	// intervals.
	baresipTalk   = 11 * time.Second
	matrixEchoFor = "2s"
	// serveStopGrace: what serve may take after SIGTERM (systemd gives 90 s);
	// removing 17 UPnP mappings one SOAP call each takes about a second.
	serveStopGrace = 30 * time.Second
)

type routerCell struct {
	name string
	nat  natlab.Mapping
	upnp bool // forwarding by natdoc serve --upnp (miniupnpd), else by hand
}

func TestLabServeBehindRouter(t *testing.T) {
	natlab.Require(t)
	for _, c := range []routerCell{
		{"eim-by-hand", natlab.EndpointIndependent, false},
		{"apdm-by-hand", natlab.AddressAndPortDependent, false},
		{"eim-upnp", natlab.EndpointIndependent, true},
		{"apdm-upnp", natlab.AddressAndPortDependent, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			runRouterCell(t, c)
		})
	}
}

// routerLab is one cell's network: the router with the server and a
// phone on its LAN, a phone, a STUN server and a natdoc mirror outside.
type routerLab struct {
	srv, lan, out *natlab.Host
	igd           *natlab.IGD // nil when forwarded by hand
	dir           string
}

func newRouterLab(t *testing.T, c routerCell, forwards ...natlab.Forward) *routerLab {
	lab := natlab.New(t)
	stun := natlab.StartCoturn(t, lab.PublicHost("stun", "203.0.113.20", "203.0.113.21"))
	mirror := lab.PublicHost("mirror", strings.TrimSuffix(mirrorAddr, ":5060"))
	mirror.Start(t, os.Args[0], append(helperArgs, "mirror", "--listen", mirrorAddr)...)
	nat := natlab.NATConfig{Mapping: c.nat, Forwards: forwards}
	if !c.upnp && forwards == nil {
		nat.Forwards = []natlab.Forward{{Proto: "udp", Ports: "5060", To: serverLAN}, {Proto: "udp", Ports: matrixRTP, To: serverLAN}}
	}
	r1 := lab.Router("r1", natlab.RouterConfig{WAN: routerWAN, LAN: "192.168.1.1/24", NAT: nat})
	rl := &routerLab{srv: r1.LANHost("srv", serverLAN), lan: r1.LANHost("lan", lanPhoneIP), out: lab.PublicHost("out", outPhoneIP), dir: t.TempDir()}
	if c.upnp {
		rl.igd = natlab.StartMiniupnpd(t, r1, natlab.MiniupnpdConfig{STUN: stun.Primary})
	}
	return rl
}

// serveArgs: forwarded by hand, serve learns the router's public address
// from STUN and proves the forwards with the mirror; with --upnp it asks
// the router for both.
func (rl *routerLab) serveArgs(publicAddr string, extra ...string) []string {
	args := []string{"serve", "--listen", serverLAN + ":5060", "--public-addr", publicAddr, "--rtp-ports", matrixRTP,
		"--allow", "0.0.0.0/0", "--tcp=false", "--json", "-o", filepath.Join(rl.dir, "serve.json")}
	if rl.igd != nil {
		args = append(args, "--upnp", "--upnp-url", rl.igd.RootURL, "--upnp-rtp-pairs", "8", "--upnp-journal", filepath.Join(rl.dir, "journal.jsonl"))
	} else {
		args = append(args, "--stun", stunAddr, "--mirror-check", mirrorAddr)
	}
	return append(args, extra...)
}

var helperArgs = []string{"-test.run=^TestHelperNatdoc$", "--"}

func runRouterCell(t *testing.T, c routerCell) {
	rl := newRouterLab(t, c)
	serve := rl.srv.Start(t, os.Args[0], append(helperArgs, rl.serveArgs(routerWAN)...)...)
	waitLog(t, serve, "listening on")
	// LAN phones are given the server's own address without being told.
	if !strings.Contains(serve.Log(), "get "+serverLAN) {
		t.Errorf("serve did not say LAN phones get %s:\n%s", serverLAN, serve.Log())
	}
	rl.baresipCalls(t, serve)
	rl.echoCalls(t)
	// SIGTERM, as a service manager stops it: serve frees the relay and
	// removes its router mappings, then writes its summary.
	start := time.Now()
	if !serve.Terminate(serveStopGrace) {
		t.Errorf("serve did not exit within %s of SIGTERM", serveStopGrace)
	}
	t.Logf("serve exited %s after SIGTERM", time.Since(start).Round(time.Millisecond))
	rl.checkServeReport(t, serve)
	if rl.igd != nil {
		checkUPnPTableEmpty(t, rl)
	}
}

// baresipCalls registers baresip alice on the LAN (at the server's LAN
// address) and bob outside (at the router's), and has them call each other.
func (rl *routerLab) baresipCalls(t *testing.T, serve *natlab.Proc) {
	t.Helper()
	alice := natlab.StartBaresip(t, rl.lan, natlab.BaresipConfig{User: "alice", Registrar: netip.MustParseAddrPort(serverLAN + ":5060"), AutoAnswer: true})
	bob := natlab.StartBaresip(t, rl.out, natlab.BaresipConfig{User: "bob", Registrar: netip.MustParseAddrPort(routerWAN + ":5060"), AutoAnswer: true})
	waitLog(t, serve, `"user":"alice"`)
	waitLog(t, serve, `"user":"bob"`)
	baresipCall(t, "alice calls bob", alice, bob, "sip:bob@"+serverLAN)
	baresipCall(t, "bob calls alice", bob, alice, "sip:alice@"+routerWAN)
}

// baresipCall has caller dial callee, talk, hang up, and checks that both
// heard the other by their own RTP counts.
func baresipCall(t *testing.T, name string, caller, callee *natlab.Baresip, uri string) {
	t.Helper()
	n := len(caller.Calls())
	callerFrom, calleeFrom := caller.LogLen(), callee.LogLen()
	caller.Command(t, "/dial "+uri)
	audioBy := time.Now().Add(baresipAudioWithin)
	for !caller.AudioBothWays(callerFrom) || !callee.AudioBothWays(calleeFrom) {
		if time.Now().After(audioBy) {
			t.Logf("%s: no audio both ways by the phones' status within %s; counting what flowed", name, baresipAudioWithin)
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	time.Sleep(baresipTalk)
	caller.Command(t, "/hangup")
	deadline := time.Now().Add(10 * time.Second)
	for caller.Ended() <= n || callee.Ended() <= n {
		if time.Now().After(deadline) {
			t.Fatalf("%s: the call did not end\ncaller:\n%s\ncallee:\n%s", name, caller.Proc.Log(), callee.Proc.Log())
		}
		time.Sleep(50 * time.Millisecond)
	}
	cr, ce := caller.Calls(), callee.Calls()
	if len(cr) <= n || len(ce) <= n {
		t.Errorf("%s: no RTP counts (no RTCP arrived)\ncaller:\n%s\ncallee:\n%s", name, caller.Proc.Log(), callee.Proc.Log())
		return
	}
	a, b := cr[n], ce[n]
	t.Logf("%s: caller received %d sent %d, callee received %d sent %d", name, a.Received, a.Sent, b.Received, b.Sent)
	// Two-way: each heard at least half of what the other sent (the first
	// packets may die before the relay latched).
	if a.Received < b.Sent/2 || b.Received < a.Sent/2 || a.Sent == 0 || b.Sent == 0 {
		t.Errorf("%s is not two-way: caller heard %d of %d, callee heard %d of %d", name, a.Received, b.Sent, b.Received, a.Sent)
	}
}

// echoCalls calls the echo user with natdoc call from the LAN and from
// outside at once.
func (rl *routerLab) echoCalls(t *testing.T) {
	t.Helper()
	var wg sync.WaitGroup
	for _, p := range []struct {
		host   *natlab.Host
		user   string
		server string
	}{{rl.lan, "carol", serverLAN}, {rl.out, "dave", routerWAN}} {
		wg.Go(func() {
			out := filepath.Join(rl.dir, p.user+".json")
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			log, err := p.host.Run(ctx, os.Args[0], append(helperArgs, "call", "--server", p.server+":5060", "--user", p.user,
				"--local-ip", p.host.Addr().String(), "--duration", matrixEchoFor, "--json", "-o", out, "echo")...)
			if err != nil {
				t.Errorf("natdoc call from %s to echo: %v\n%s", p.user, err, log)
				return
			}
			r := loadReport(t, out)
			t.Logf("%s -> echo: %s", p.user, r.CallTest.Explain)
			if r.CallTest.Verdict != report.VerdictTwoWay {
				t.Errorf("%s -> echo: %s", p.user, r.CallTest.Explain)
			}
		})
	}
	wg.Wait()
}

// checkServeReport: serve wrote its summary on SIGTERM, with relay
// counters on both legs of every call.
func (rl *routerLab) checkServeReport(t *testing.T, serve *natlab.Proc) {
	t.Helper()
	rs := loadReport(t, filepath.Join(rl.dir, "serve.json"))
	if rs.Serve == nil || len(rs.Serve.Calls) != 4 {
		t.Fatalf("serve report: %+v\n%s", rs.Serve, serve.Log())
	}
	for _, c := range rs.Serve.Calls {
		for _, l := range c.Legs {
			if l.Latched == "" || l.SDPAddr == "" || l.Received == 0 || l.Packets == 0 {
				t.Errorf("call %s -> %s, leg %s: latched %q sdp %q received %d forwarded to it %d", c.From, c.To, l.Party, l.Latched, l.SDPAddr, l.Received, l.Packets)
			}
		}
	}
	for _, f := range rs.Findings {
		if f.Severity.IsProblem() {
			t.Errorf("serve finding %s: %s", f.ID, f.Title)
		}
	}
	checks := checkStatus(rs)
	for _, name := range []string{"router-address", "port-forwarding"} {
		if checks[name].Status != report.CheckPassed {
			t.Errorf("start-up check %s: %s (%s)", name, checks[name].Status, checks[name].Detail)
		}
		t.Logf("start-up check %s: %s", name, checks[name].Detail)
	}
}

func checkStatus(r *report.Report) map[string]report.Check {
	out := map[string]report.Check{}
	for _, c := range r.Checks {
		out[c.Name] = c
	}
	return out
}

// checkUPnPTableEmpty: nothing natdoc mapped is left on the router.
func checkUPnPTableEmpty(t *testing.T, rl *routerLab) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	out, err := rl.srv.Run(ctx, "upnpc", "-i", "-u", rl.igd.RootURL, "-l")
	if err != nil || !strings.Contains(string(out), "ExternalIPAddress") {
		t.Fatalf("upnpc could not list the router's mappings: %v\n%s", err, out)
	}
	for _, line := range strings.Split(string(out), "\n") {
		if strings.Contains(line, "->") && strings.Contains(line, serverLAN) {
			t.Errorf("mapping left on the router after SIGTERM: %s", line)
		}
	}
	t.Logf("upnpc -l after SIGTERM:\n%s", out)
}

// TestLabServeBehindRouterMisconfigured: the mistakes a new user makes
// there, each named by serve: the router forwards only UDP 5060, not the
// RTP range; --public-addr is not the router's public address; and --lan
// leaves the LAN phone out, so it is given the public address, which the
// router does not loop back (no hairpin NAT).
func TestLabServeBehindRouterMisconfigured(t *testing.T) {
	natlab.Require(t)
	rl := newRouterLab(t, routerCell{nat: natlab.EndpointIndependent}, natlab.Forward{Proto: "udp", Ports: "5060", To: serverLAN})
	serve := rl.srv.Start(t, os.Args[0], append(helperArgs, rl.serveArgs("203.0.113.99", "--lan", "10.0.0.0/8")...)...)
	waitLog(t, serve, "listening on")
	out := filepath.Join(rl.dir, "carol.json")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	log, err := rl.lan.Run(ctx, os.Args[0], append(helperArgs, "call", "--server", serverLAN+":5060", "--user", "carol",
		"--local-ip", lanPhoneIP, "--duration", "1s", "--json", "-o", out, "echo")...)
	if r := loadReport(t, out); r.CallTest.Verdict == report.VerdictTwoWay {
		t.Errorf("the LAN phone given a public address heard the echo: %s\n%s %v", r.CallTest.Explain, log, err)
	}
	if !serve.Terminate(serveStopGrace) {
		t.Fatal("serve did not exit after SIGTERM")
	}
	rs := loadReport(t, filepath.Join(rl.dir, "serve.json"))
	ids := map[report.FindingID]string{}
	for _, f := range rs.Findings {
		ids[f.ID] = f.Title
	}
	for _, id := range []report.FindingID{"serve-port-not-forwarded", "public-addr-not-router", "lan-phone-given-public-address"} {
		if ids[id] == "" {
			t.Errorf("no %s finding; findings: %v\nserve log:\n%s", id, ids, serve.Log())
		}
		t.Logf("%s: %s", id, ids[id])
	}
	checks := checkStatus(rs)
	for _, name := range []string{"router-address", "port-forwarding"} {
		if checks[name].Status != report.CheckProblem {
			t.Errorf("start-up check %s: %s (%s), want a problem", name, checks[name].Status, checks[name].Detail)
		}
	}
}

// TestLabServeBehindPortTranslatingRouter: the router forwards outside
// UDP 5080 to serve's 5060 on the LAN PC (and the RTP range as it is), and
// serve is told so (--public-addr 203.0.113.1:5080). The phone outside
// registers at 5080 and gets 5080 in the Via, Record-Route and Contact it
// sends its later requests to; the LAN phone keeps 5060. Both calls are
// two-way by the phones' counts and end by BYE through the router; the
// start-up checks pass, the mirror's call-back to 5080 arriving at 5060.
// Told an outside port the router does not forward (5090), serve's check
// names the SIP port not forwarded, and the forward to make.
func TestLabServeBehindPortTranslatingRouter(t *testing.T) {
	natlab.Require(t)
	t.Parallel()
	rl := newRouterLab(t, routerCell{nat: natlab.EndpointIndependent},
		natlab.Forward{Proto: "udp", Ports: "5080", To: serverLAN + ":5060"}, natlab.Forward{Proto: "udp", Ports: matrixRTP, To: serverLAN})
	serve := rl.srv.Start(t, os.Args[0], append(helperArgs, rl.serveArgs(routerWAN+":5080")...)...)
	waitLog(t, serve, "listening on")
	alice := natlab.StartBaresip(t, rl.lan, natlab.BaresipConfig{User: "alice", Registrar: netip.MustParseAddrPort(serverLAN + ":5060"), AutoAnswer: true})
	bob := natlab.StartBaresip(t, rl.out, natlab.BaresipConfig{User: "bob", Registrar: netip.MustParseAddrPort(routerWAN + ":5080"), AutoAnswer: true})
	waitLog(t, serve, `"user":"alice"`)
	waitLog(t, serve, `"user":"bob"`)
	baresipCall(t, "alice calls bob", alice, bob, "sip:bob@"+serverLAN)
	baresipCall(t, "bob calls alice", bob, alice, "sip:alice@"+routerWAN+":5080")
	if !serve.Terminate(serveStopGrace) {
		t.Errorf("serve did not exit within %s of SIGTERM", serveStopGrace)
	}
	rs := loadReport(t, filepath.Join(rl.dir, "serve.json"))
	if rs.Serve == nil || len(rs.Serve.Calls) != 2 {
		t.Fatalf("serve report: %+v\n%s", rs.Serve, serve.Log())
	}
	for _, f := range rs.Findings {
		if f.Severity.IsProblem() {
			t.Errorf("serve finding %s: %s", f.ID, f.Title)
		}
	}
	if c := checkStatus(rs)["port-forwarding"]; c.Status != report.CheckPassed || !strings.Contains(c.Detail, "UDP 5080 (to 5060 here), 20000,") {
		t.Errorf("start-up check port-forwarding: %s (%s)", c.Status, c.Detail)
	}

	serve = rl.srv.Start(t, os.Args[0], append(helperArgs, rl.serveArgs(routerWAN+":5090")...)...)
	waitLog(t, serve, "listening on")
	if !serve.Terminate(serveStopGrace) {
		t.Errorf("serve did not exit within %s of SIGTERM", serveStopGrace)
	}
	rs = loadReport(t, filepath.Join(rl.dir, "serve.json"))
	c := checkStatus(rs)["port-forwarding"]
	var f *report.Finding
	for i := range rs.Findings {
		if rs.Findings[i].ID == "serve-port-not-forwarded" {
			f = &rs.Findings[i]
		}
	}
	if c.Status != report.CheckProblem || c.Detail != "UDP 5090 (to 5060 here) did not arrive" || f == nil ||
		!strings.Contains(f.Title, "does not forward the SIP port") || !strings.Contains(f.Remedy, "forward UDP 5090 to "+serverLAN+":5060") {
		t.Errorf("port 5090 not forwarded: check %s (%s), finding %+v", c.Status, c.Detail, f)
	}
}

// TestLabServeUPnPSIPPortTaken: another device on the LAN already holds
// outside UDP 5060 on the router (miniupnpd), as a second PBX or the
// router's own SIP service does. natdoc serve --upnp lets the router
// choose the SIP port's outside port (AddAnyPortMapping), gives phones
// outside that port (in Via, Record-Route and Contact), and both calls
// are two-way by the phones' counts; on exit its mappings are removed and
// the other device's stays. Told an outside port (--public-addr
// HOST:5080), serve has the router forward that one.
func TestLabServeUPnPSIPPortTaken(t *testing.T) {
	natlab.Require(t)
	t.Parallel()
	rl := newRouterLab(t, routerCell{nat: natlab.EndpointIndependent, upnp: true})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if out, err := rl.lan.Run(ctx, "upnpc", "-i", "-u", rl.igd.RootURL, "-a", lanPhoneIP, "5060", "5060", "UDP"); err != nil {
		t.Fatalf("the other device could not map 5060: %v\n%s", err, out)
	}
	serve := rl.srv.Start(t, os.Args[0], append(helperArgs, rl.serveArgs(routerWAN)...)...)
	waitLog(t, serve, "listening on")
	m := regexp.MustCompile(`phones outside are given (\d+)`).FindStringSubmatch(serve.Log())
	if m == nil {
		t.Fatalf("serve did not say which outside port the router gave:\n%s", serve.Log())
	}
	outside := routerWAN + ":" + m[1]
	t.Logf("the router forwards %s to serve's 5060", outside)
	alice := natlab.StartBaresip(t, rl.lan, natlab.BaresipConfig{User: "alice", Registrar: netip.MustParseAddrPort(serverLAN + ":5060"), AutoAnswer: true})
	bob := natlab.StartBaresip(t, rl.out, natlab.BaresipConfig{User: "bob", Registrar: netip.MustParseAddrPort(outside), AutoAnswer: true})
	waitLog(t, serve, `"user":"alice"`)
	waitLog(t, serve, `"user":"bob"`)
	baresipCall(t, "alice calls bob", alice, bob, "sip:bob@"+serverLAN)
	baresipCall(t, "bob calls alice", bob, alice, "sip:alice@"+outside)
	if !serve.Terminate(serveStopGrace) {
		t.Errorf("serve did not exit within %s of SIGTERM", serveStopGrace)
	}
	checkUPnPTableEmpty(t, rl)
	ctx, cancel = context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	out, err := rl.lan.Run(ctx, "upnpc", "-i", "-u", rl.igd.RootURL, "-l")
	if err != nil || !strings.Contains(string(out), "5060->"+lanPhoneIP+":5060") {
		t.Errorf("the other device's mapping is gone: %v\n%s", err, out)
	}

	// Told an outside port (--public-addr HOST:5080), serve has the router
	// forward that one to its 5060.
	serve = rl.srv.Start(t, os.Args[0], append(helperArgs, rl.serveArgs(routerWAN+":5080")...)...)
	waitLog(t, serve, "listening on")
	out, err = rl.lan.Run(ctx, "upnpc", "-i", "-u", rl.igd.RootURL, "-l")
	if err != nil || !strings.Contains(string(out), "5080->"+serverLAN+":5060") {
		t.Errorf("no forward of 5080 to %s:5060: %v\n%s", serverLAN, err, out)
	}
	if !serve.Terminate(serveStopGrace) {
		t.Errorf("serve did not exit within %s of SIGTERM", serveStopGrace)
	}
	checkUPnPTableEmpty(t, rl)
}
