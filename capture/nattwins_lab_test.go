//go:build linux

package capture

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/natdoc/natdoc/internal/natlab"
	"github.com/natdoc/natdoc/report"
)

// TestLabCaptureOnNAT: tcpdump -i any on the NAT itself, as an engineer
// runs it on a Linux router. baresip 100 at 192.168.1.10 behind r1 calls
// baresip 200 at 203.0.113.10; r1's capture holds every packet it
// forwards twice, before and after translation. natdoc judges it as the
// capture at the callee (r1's public side): the same verdict, the RTP
// counted once each way (not the leaked call's callee's, which never
// reaches the NAT), one leg (the INVITE's two copies are no proxy),
// no finding that says the capture was taken on the callee's host, and a
// vantage that says it was taken on the NAT. Leaking its private address,
// the phone cannot hear; with STUN the call is two-way. So with the
// kernel's SIP ALG, over TCP, and on a router behind a carrier-grade NAT
// (its WAN side in 100.64/10, not public).
func TestLabCaptureOnNAT(t *testing.T) {
	natlab.Require(t)
	t.Parallel() // it waits on calls
	for _, tc := range []struct {
		name  string
		stun  bool
		alg   bool
		tcp   bool
		cgnat bool
		file  string
	}{
		{"leaked private address", false, false, false, false, "natlab-capture-on-nat.pcap"},
		{"fixed with STUN", true, false, false, false, ""},
		{"rewritten by the kernel SIP ALG", false, true, false, false, ""},
		{"SIP over TCP", true, false, true, false, ""},
		{"behind a carrier-grade NAT", false, false, false, true, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			onNAT, atCallee := labCallOnNAT(t, tc.stun, tc.alg, tc.tcp, tc.cgnat)
			if tc.file != "" {
				recordLabFile(t, onNAT, tc.file)
			}
			if dir := os.Getenv("NATDOC_KEEP_LAB"); dir != "" && tc.tcp {
				data, _ := os.ReadFile(onNAT)
				_ = os.WriteFile(filepath.Join(dir, "capture-on-nat-tcp.pcap"), data, 0o644)
			}
			want := analyzePath(t, atCallee)
			got := analyzePath(t, onNAT)
			if len(got.Calls) != 1 || len(want.Calls) != 1 {
				t.Fatalf("calls: %d on the NAT, %d at the callee; want 1 each", len(got.Calls), len(want.Calls))
			}
			g, w := got.Calls[0], want.Calls[0]
			gp, _ := directionCounts(g)
			wp, _ := directionCounts(w)
			t.Logf("on the NAT: %s (%s) %v, legs %d, findings %v; vantage %s", g.Verdict, g.CannotHear, gp, len(g.Legs), findingIDs(g), got.Capture.Vantage)
			t.Logf("at the callee: %s (%s) %v, findings %v", w.Verdict, w.CannotHear, wp, findingIDs(w))
			if g.Verdict != w.Verdict || g.CannotHear != w.CannotHear {
				t.Errorf("verdict on the NAT %s (%q), at the callee %s (%q)", g.Verdict, g.CannotHear, w.Verdict, w.CannotHear)
			}
			if !tc.stun && !tc.alg && (g.Verdict != report.VerdictOneWay || g.CannotHear != "caller") {
				t.Errorf("verdict %s (%q), want one-way, the caller cannot hear", g.Verdict, g.CannotHear)
			}
			// The callee's RTP to the leaked private address never reaches
			// the NAT: only its capture at the callee holds it.
			if gp[0] != wp[0] || ((tc.stun || tc.alg) && gp != wp) || (!tc.stun && !tc.alg && gp[1] != 0) {
				t.Errorf("RTP each way on the NAT %v, at the callee %v", gp, wp)
			}
			if tc.tcp && (g.Transport != "TCP" || w.Transport != "TCP") {
				t.Errorf("transport %s on the NAT, %s at the callee; want TCP", g.Transport, w.Transport)
			}
			if len(g.Legs) > 1 {
				t.Errorf("%d legs: the INVITE's two copies read as hops", len(g.Legs))
			}
			mapping := "192.168.1.10 to 203.0.113.1"
			if tc.cgnat {
				mapping = "192.168.1.10 to 100.64.0.2"
			}
			if !strings.Contains(got.Capture.Vantage, "taken on a NAT itself") || !strings.Contains(got.Capture.Vantage, mapping) {
				t.Errorf("vantage %q does not say the capture was taken on the NAT", got.Capture.Vantage)
			}
			for _, f := range g.Findings {
				if strings.Contains(evidenceTexts(&f), "taken on that host") {
					t.Errorf("%s says the capture was taken on a party's host: %s", f.ID, evidenceTexts(&f))
				}
			}
		})
	}
}

// labCallOnNAT makes the call of labCall, captured on r1 (any interface)
// and at the callee; with cgnat, r1 sits behind the ISP's NAT.
func labCallOnNAT(t *testing.T, stun, alg, tcp, cgnat bool) (onNAT, atCallee string) {
	lab := natlab.New(t)
	callee := lab.PublicHost("callee", "203.0.113.10")
	cfg := natlab.RouterConfig{WAN: "203.0.113.1", LAN: "192.168.1.1/24",
		NAT: natlab.NATConfig{Mapping: natlab.EndpointIndependent, SIPALG: alg}}
	if cgnat { // r1's WAN in the ISP's shared address space (RFC 6598)
		isp := lab.Router("isp", natlab.RouterConfig{WAN: "203.0.113.1", LAN: "100.64.0.1/24"})
		cfg.WAN, cfg.Upstream = "100.64.0.2", isp
	}
	r1 := lab.Router("r1", cfg)
	dropUnsolicitedFromWAN(t, r1) // the STUN call's media keeps its mapped port (newSTUNCall)
	phone := r1.LANHost("phone", "192.168.1.10")
	account := "<sip:100@192.168.1.10>;regint=0"
	if stun {
		srv := natlab.StartCoturn(t, lab.PublicHost("stun", "198.51.100.10", "198.51.100.11"))
		account += fmt.Sprintf(";medianat=stun;stunserver=stun:%s", srv.Primary)
	}
	onNAT = filepath.Join(t.TempDir(), "on-nat.pcap")
	natDump := r1.StartTcpdumpOn(t, "any", onNAT, "(udp or tcp) and not port 3478")
	atCallee = filepath.Join(t.TempDir(), "callee.pcap")
	calleeDump := callee.StartTcpdump(t, atCallee, "udp or tcp")
	calleeDir := baresipConfig(t, "203.0.113.10:5060", "<sip:200@203.0.113.10>;regint=0;answermode=auto", false)
	b := callee.Start(t, "baresip", "-f", calleeDir, "-t", "12")
	time.Sleep(500 * time.Millisecond)
	phoneDir := baresipConfig(t, "192.168.1.10:5060", account, stun)
	dial := "/dial sip:200@203.0.113.10"
	if tcp {
		useTCP(t, phoneDir)
		dial += ";transport=tcp"
	}
	caller := phone.Start(t, "baresip", "-f", phoneDir, "-t", "8", "-e", dial)
	endLabCall(t, caller, 20*time.Second, b, natDump, calleeDump)
	return onNAT, atCallee
}

// TestLabCaptureOnNATForward: the same on a router that forwards UDP 5060
// to the phone (a server behind the router): the first packet through the
// NAT is the caller's INVITE coming in, its WAN copy before its LAN copy.
// Judged as at the caller: the phone's answer names its private Contact
// and SDP, so the ACK never comes back and the phone cannot hear; not an
// INVITE "sent from a public address to a private one", as its LAN copy
// read alone said, nor a call without RTP.
func TestLabCaptureOnNATForward(t *testing.T) {
	natlab.Require(t)
	t.Parallel() // it waits on calls
	lab := natlab.New(t)
	caller := lab.PublicHost("caller", "203.0.113.10")
	r1 := lab.Router("r1", natlab.RouterConfig{WAN: "203.0.113.1", LAN: "192.168.1.1/24",
		NAT: natlab.NATConfig{Mapping: natlab.EndpointIndependent,
			Forwards: []natlab.Forward{{Proto: "udp", Ports: "5060", To: "192.168.1.10"}}}})
	phone := r1.LANHost("phone", "192.168.1.10")
	onNAT := filepath.Join(t.TempDir(), "on-nat.pcap")
	natDump := r1.StartTcpdumpOn(t, "any", onNAT, "udp")
	atCaller, callerDump := labTcpdump(t, caller)
	calleeDir := baresipConfig(t, "192.168.1.10:5060", "<sip:100@192.168.1.10>;regint=0;answermode=auto", false)
	answering := phone.Start(t, "baresip", "-f", calleeDir, "-t", "10")
	time.Sleep(500 * time.Millisecond)
	callerDir := baresipConfig(t, "203.0.113.10:5060", "<sip:200@203.0.113.10>;regint=0", false)
	calling := caller.Start(t, "baresip", "-f", callerDir, "-e", "/dial sip:100@203.0.113.1")
	// Its BYE would wait out Timer F (the phone's Contact is private):
	// 9 s of the call are enough, the caller is stopped.
	time.Sleep(9 * time.Second)
	calling.Stop()
	endLabCall(t, calling, 5*time.Second, answering, natDump, callerDump)

	want, got := analyzePath(t, atCaller), analyzePath(t, onNAT)
	if len(got.Calls) != 1 || len(want.Calls) != 1 {
		t.Fatalf("calls: %d on the NAT, %d at the caller; want 1 each", len(got.Calls), len(want.Calls))
	}
	g, w := got.Calls[0], want.Calls[0]
	t.Logf("on the NAT: %s (%s), findings %v; at the caller: %s (%s), findings %v", g.Verdict, g.CannotHear, findingIDs(g), w.Verdict, w.CannotHear, findingIDs(w))
	if g.Verdict != report.VerdictOneWay || g.CannotHear != "callee" || g.Verdict != w.Verdict || g.CannotHear != w.CannotHear {
		t.Errorf("on the NAT %s (%q), at the caller %s (%q); want one-way, the callee cannot hear", g.Verdict, g.CannotHear, w.Verdict, w.CannotHear)
	}
	for _, id := range []report.FindingID{"answer-never-acknowledged", "sdp-private-address"} {
		if !hasFinding(g, id) {
			t.Errorf("no %s on the NAT: %v", id, findingIDs(g))
		}
	}
	if hasFinding(g, "request-to-private-address") || len(g.Legs) > 1 {
		t.Errorf("the INVITE's LAN copy read as a hop: %d legs, findings %v", len(g.Legs), findingIDs(g))
	}
}

// useTCP makes the baresip configuration in dir send its SIP over TCP.
func useTCP(t *testing.T, dir string) {
	t.Helper()
	path := filepath.Join(dir, "config")
	conf, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, bytes.Replace(conf, []byte("sip_trans_def udp"), []byte("sip_trans_def tcp"), 1), 0o644); err != nil {
		t.Fatal(err)
	}
}
