//go:build linux

package main

import (
	"bytes"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/natdoc/natdoc/diagnose/igd"
	"github.com/natdoc/natdoc/internal/natlab"
	"github.com/natdoc/natdoc/report"
)

// upnpLab is natdoc serve --upnp on a LAN host (srv) behind a real router
// with miniupnpd, whose permission lines are allow (nil: any port), with
// phones on the LAN (alice) and on the internet (bob).
type upnpLab struct {
	srv, alice, bob *natlab.Host
	igd             *natlab.IGD
	dir             string
	// before lists the router's mappings (upnpc -l) before serve started.
	before []string
}

func newUPnPLab(t *testing.T, allow []string) *upnpLab {
	natlab.Require(t)
	lab := natlab.New(t)
	stun := natlab.StartCoturn(t, lab.PublicHost("stun", "203.0.113.20", "203.0.113.21"))
	r1 := lab.Router("r1", natlab.RouterConfig{WAN: "203.0.113.1", LAN: "192.168.1.1/24", NAT: natlab.NATConfig{Mapping: natlab.EndpointIndependent}})
	l := &upnpLab{igd: natlab.StartMiniupnpd(t, r1, natlab.MiniupnpdConfig{STUN: stun.Primary, Allow: allow, Quiet: allow != nil}),
		srv: r1.LANHost("srv", "192.168.1.2"), alice: r1.LANHost("alice", "192.168.1.10"), bob: lab.PublicHost("bob", "198.51.100.20"), dir: t.TempDir()}
	l.before = l.igd.Mappings(t, l.srv)
	return l
}

// serve starts natdoc serve --upnp with the relay on 20000-20099.
func (l *upnpLab) serve(t *testing.T, extra ...string) *natlab.Proc {
	args := append([]string{"serve", "--listen", "192.168.1.2:5060", "--local-addr", "192.168.1.2", "--lan", "192.168.1.0/24",
		"--upnp", "--upnp-url", l.igd.RootURL, "--upnp-journal", filepath.Join(l.dir, "journal.jsonl"),
		"--rtp-ports", "20000-20099", "--allow", "0.0.0.0/0", "--tcp=false", "--echo=false", "--json", "-o", filepath.Join(l.dir, "serve.json")}, extra...)
	p := l.srv.Start(t, os.Args[0], append(helperArgs, args...)...)
	waitLog(t, p, "listening on")
	return p
}

// upnpCall is one call from alice<i> on the LAN to bob<i> outside, each a
// natdoc call process of its own.
type upnpCall struct {
	i              int
	caller, callee *natlab.Proc
}

// startCall has bob<i> wait for a call and alice<i> call it, sending
// audio for talk.
func (l *upnpLab) startCall(t *testing.T, serve *natlab.Proc, i int, talk time.Duration) upnpCall {
	bob := fmt.Sprintf("bob%d", i)
	c := upnpCall{i: i}
	c.callee = l.bob.Start(t, os.Args[0], append(helperArgs, "call", "--server", "203.0.113.1:5060", "--user", bob, "--answer", "--wait", "60s",
		"--local-ip", "198.51.100.20", "--json", "-o", filepath.Join(l.dir, bob+".json"))...)
	waitLog(t, serve, `"user":"`+bob+`"`)
	alice := fmt.Sprintf("alice%d", i)
	c.caller = l.alice.Start(t, os.Args[0], append(helperArgs, "call", "--server", "192.168.1.2:5060", "--user", alice, "--local-ip", "192.168.1.10",
		"--duration", talk.String(), "--json", "-o", filepath.Join(l.dir, alice+".json"), bob)...)
	return c
}

// checkTwoWay: both phones of c heard each other, and bob's media went to
// the router's address on a port within forwarded.
func (l *upnpLab) checkTwoWay(t *testing.T, c upnpCall, forwarded igd.PortRange) {
	t.Helper()
	c.caller.Wait()
	c.callee.Wait()
	a := loadReport(t, filepath.Join(l.dir, fmt.Sprintf("alice%d.json", c.i)))
	b := loadReport(t, filepath.Join(l.dir, fmt.Sprintf("bob%d.json", c.i)))
	if a.CallTest.Verdict != report.VerdictTwoWay || b.CallTest.Verdict != report.VerdictTwoWay {
		t.Errorf("call %d: alice: %s; bob: %s", c.i, a.CallTest.Explain, b.CallTest.Explain)
	}
	to, err := netip.ParseAddrPort(b.CallTest.RemoteSDP)
	if err != nil || to.Addr() != netip.MustParseAddr("203.0.113.1") || !forwarded.Contains(to.Port()) {
		t.Errorf("call %d: bob sent to %q, want 203.0.113.1 on a forwarded pair in %s", c.i, b.CallTest.RemoteSDP, forwarded)
	}
}

// rtpMapped counts the router's UDP mappings to srv other than SIP's.
func (l *upnpLab) rtpMapped(t *testing.T) int {
	n := 0
	for _, e := range l.igd.Mappings(t, l.srv) {
		if strings.HasPrefix(e, "UDP ") && strings.Contains(e, "->192.168.1.2:") && !strings.HasPrefix(e, "UDP 5060->") {
			n++
		}
	}
	return n
}

// waitMapped polls the router's table until want RTP ports are mapped.
func (l *upnpLab) waitMapped(t *testing.T, want int, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for n := l.rtpMapped(t); n != want; n = l.rtpMapped(t) {
		if time.Now().After(deadline) {
			t.Fatalf("the router maps %d RTP ports after %s, want %d: %q", n, within, want, l.igd.Mappings(t, l.srv))
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// stop ends serve with SIGTERM, as a service manager does, and checks
// that the router's table is as it was; it returns serve's report.
func (l *upnpLab) stop(t *testing.T, serve *natlab.Proc) *report.Report {
	t.Helper()
	if !serve.Terminate(serveStopGrace) {
		t.Errorf("serve did not exit within %s of SIGTERM", serveStopGrace)
	}
	if after := l.igd.Mappings(t, l.srv); !slices.Equal(l.before, after) {
		t.Errorf("upnpc -l before serve %q, after %q", l.before, after)
	}
	return loadReport(t, filepath.Join(l.dir, "serve.json"))
}

func waitLogCount(t *testing.T, p *natlab.Proc, want string, n int) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for strings.Count(p.Log(), want) < n {
		if time.Now().After(deadline) {
			t.Fatalf("%q %d times in log, want %d:\n%s", want, strings.Count(p.Log(), want), n, p.Log())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func finding(r *report.Report, id report.FindingID) *report.Finding {
	for i := range r.Findings {
		if r.Findings[i].ID == id {
			return &r.Findings[i]
		}
	}
	return nil
}

func evidence(f *report.Finding, key string) string {
	for _, e := range f.Evidence {
		for _, kv := range e.Values {
			if kv.Key == key {
				return kv.Value
			}
		}
	}
	return ""
}

// natdoc serve --upnp forwards SIP and a few spare RTP pairs from its
// range; a phone on the internet and one on the LAN hear each other, and
// on exit the mappings are gone.
func TestLabServeUPnP(t *testing.T) {
	l := newUPnPLab(t, nil)
	serve := l.serve(t)
	c := l.startCall(t, serve, 1, 2*time.Second)
	l.checkTwoWay(t, c, igd.PortRange{Lo: 20000, Hi: 20007})
	rs := l.stop(t, serve)
	if finding(rs, igd.FindingForwarded) == nil || rs.Serve.PublicAddr != "203.0.113.1" || rs.Serve.RTPPorts != "20000-20099" {
		t.Errorf("serve report: main address %q, rtp %q, findings %+v", rs.Serve.PublicAddr, rs.Serve.RTPPorts, rs.Findings)
	}
}

// The router's rules refuse the relay's range 20000-20099 and allow
// 40000-40100: serve --upnp forwards pairs there instead, says so, and the
// phone outside sends there; the LAN phone's leg stays in the range.
func TestLabServeUPnPRulesMoveRTP(t *testing.T) {
	l := newUPnPLab(t, []string{"5060 192.168.1.0/24 5060", "40000-40100 192.168.1.0/24 40000-40100"})
	serve := l.serve(t)
	c := l.startCall(t, serve, 1, 2*time.Second)
	l.checkTwoWay(t, c, igd.PortRange{Lo: 40000, Hi: 40100})
	rs := l.stop(t, serve)
	if finding(rs, igd.FindingRTPMoved) == nil {
		t.Errorf("no finding %s: %+v", igd.FindingRTPMoved, rs.Findings)
	}
}

// More calls at once than the spare pairs: the router's table grows as
// the calls take pairs, every call is two-way, and once they end the
// pairs beyond the spare go back after --upnp-idle-release.
func TestLabServeUPnPPairsFollowCalls(t *testing.T) {
	const calls, spare = 7, 4
	l := newUPnPLab(t, nil)
	serve := l.serve(t, "--upnp-idle-release", "2s")
	l.waitMapped(t, 2*spare, 10*time.Second)
	var cs []upnpCall
	for i := range calls {
		cs = append(cs, l.startCall(t, serve, i+1, 8*time.Second))
	}
	waitLogCount(t, serve, `"kind":"call-answered"`, calls)
	if n := l.rtpMapped(t); n < 2*calls {
		t.Errorf("with %d calls up the router maps %d RTP ports, want at least %d", calls, n, 2*calls)
	}
	for _, c := range cs {
		l.checkTwoWay(t, c, igd.PortRange{Lo: 20000, Hi: 20099})
	}
	l.waitMapped(t, 2*spare, 20*time.Second)
	if !strings.Contains(serve.Log(), `"kind":"upnp-release"`) {
		t.Errorf("no upnp-release event:\n%s", serve.Log())
	}
	rs := l.stop(t, serve)
	f := finding(rs, igd.FindingRTPPairs)
	if f == nil {
		t.Fatalf("no finding %s: %+v", igd.FindingRTPPairs, rs.Findings)
	}
	peak, _ := strconv.Atoi(evidence(f, "most at once"))
	released, _ := strconv.Atoi(evidence(f, "released"))
	// No more than the calls and the spare: pairs LAN legs held were not
	// forwarded for nobody.
	if peak < calls || peak > calls+spare || released < peak-spare {
		t.Errorf("%s", f.Title)
	}
	t.Log(f.Title)
}

// The router's rules allow five RTP pairs (40000-40009): five calls at
// once take them, the router refuses a sixth pair, the sixth call gets
// 503 with Retry-After, and serve says to forward the range by hand.
func TestLabServeUPnPPairsAtRouterLimit(t *testing.T) {
	const allowed = 5
	l := newUPnPLab(t, []string{"5060 192.168.1.0/24 5060", "40000-40009 192.168.1.0/24 40000-40009"})
	serve := l.serve(t, "--upnp-idle-release", "2s")
	var cs []upnpCall
	for i := range allowed {
		cs = append(cs, l.startCall(t, serve, i+1, 10*time.Second))
	}
	waitLogCount(t, serve, `"kind":"call-answered"`, allowed)
	pcap := filepath.Join(l.dir, "alice.pcap")
	dump := l.alice.StartTcpdump(t, pcap, "udp", "port", "5060")
	last := l.startCall(t, serve, allowed+1, time.Second)
	if err := last.caller.Wait(); err == nil || !strings.Contains(last.caller.Log(), "503") {
		t.Errorf("the call beyond the router's limit: %v\n%s", err, last.caller.Log())
	}
	dump.Stop()
	last.callee.Stop()
	refusal := sipResponse(t, pcap, "SIP/2.0 503")
	if !bytes.Contains(refusal, []byte("Retry-After: 30")) || !bytes.Contains(refusal, []byte("router forwards")) {
		t.Errorf("the 503 on the wire:\n%s", refusal)
	}
	for _, c := range cs {
		l.checkTwoWay(t, c, igd.PortRange{Lo: 40000, Hi: 40009})
	}
	rs := l.stop(t, serve)
	f := finding(rs, igd.FindingMappingLimit)
	if f == nil || evidence(f, "cause") != string(igd.CausePermission) || !strings.Contains(f.Remedy, "by hand") {
		t.Fatalf("finding %s: %+v\nall: %+v", igd.FindingMappingLimit, f, rs.Findings)
	}
	t.Log(f.Title)
}

// sipResponse is the first SIP message in the capture at path that starts
// with start.
func sipResponse(t *testing.T, path, start string) []byte {
	t.Helper()
	for _, p := range natlab.ReadPcap(t, path) {
		// The UDP payload: gopacket's SIP layer keeps only the body.
		if tl := p.TransportLayer(); tl != nil && bytes.HasPrefix(tl.LayerPayload(), []byte(start)) {
			return tl.LayerPayload()
		}
	}
	t.Fatalf("no %q in the capture", start)
	return nil
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
