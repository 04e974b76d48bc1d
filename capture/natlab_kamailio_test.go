//go:build linux

package capture

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/natdoc/natdoc/internal/natlab"
	"github.com/natdoc/natdoc/report"
)

// kamailioConfig is a plain, NAT-unaware registrar and proxy (usrloc in
// memory, record_route, lookup, t_relay): it stores the Contact a phone
// writes, private or not, and never pings it. With rtpengine it anchors
// the media of every call at its relay, as an SBC does. trace, when set,
// is its siptrace configuration (natlab.KamailioProxy.Siptrace).
func kamailioConfig(rtpengine bool, trace string) string {
	mods := []string{"kex", "corex", "tm", "sl", "rr", "pv", "maxfwd", "usrloc", "registrar", "textops", "siputils"}
	media, reply := "", ""
	if rtpengine {
		mods = append(mods, "rtpengine")
		media = `	if (has_body("application/sdp") || is_method("BYE|CANCEL")) {
		rtpengine_manage("replace-origin replace-session-connection");
	}
	t_on_reply("MEDIA");
`
		reply = `
onreply_route[MEDIA] {
	if (has_body("application/sdp")) {
		rtpengine_manage("replace-origin replace-session-connection");
	}
}
`
	}
	var b strings.Builder
	b.WriteString("#!KAMAILIO\ndebug=2\nlog_stderror=yes\nchildren=2\ntcp_children=1\nauto_aliases=no\ndns=no\nrev_dns=no\n")
	b.WriteString("mpath=\"/usr/lib/x86_64-linux-gnu/kamailio/modules/\"\n")
	for _, m := range mods {
		fmt.Fprintf(&b, "loadmodule \"%s.so\"\n", m)
	}
	b.WriteString(trace)
	b.WriteString("modparam(\"usrloc\", \"db_mode\", 0)\nmodparam(\"rr\", \"enable_full_lr\", 1)\n")
	if rtpengine {
		b.WriteString("modparam(\"rtpengine\", \"rtpengine_sock\", \"udp:127.0.0.1:2223\")\n")
	}
	fmt.Fprintf(&b, `
request_route {
	if (!mf_process_maxfwd_header("10")) {
		sl_send_reply("483", "Too Many Hops");
		exit;
	}
%s	if (has_totag()) {
		if (loose_route()) {
			t_relay();
			exit;
		}
		if (is_method("ACK") && t_check_trans()) {
			t_relay();
		}
		exit;
	}
	if (is_method("CANCEL")) {
		if (t_check_trans()) {
			t_relay();
		}
		exit;
	}
	t_check_trans();
	if (is_method("REGISTER")) {
		if (!save("location")) {
			sl_reply_error();
		}
		exit;
	}
	if (is_method("INVITE")) {
		record_route();
	}
	if (!lookup("location")) {
		sl_send_reply("404", "Not Found");
		exit;
	}
	t_relay();
}
%s`, media, reply)
	return b.String()
}

// startKamailio runs Kamailio on h at addr:5060 (and rtpengine beside it
// with relay ports 30000-30100 on addr) and waits until it listens. With
// hepTo set, both copy what they see there as HEP, as production servers
// feed HOMER: Kamailio every SIP message (siptrace), rtpengine the RTCP
// it relays, as JSON reports (--homer).
func startKamailio(t *testing.T, h *natlab.Host, addr string, rtpengine bool, hepTo netip.AddrPort) {
	t.Helper()
	dir := t.TempDir()
	cfg := filepath.Join(dir, "kamailio.cfg")
	trace, homer := "", []string{}
	if hepTo.IsValid() {
		trace = natlab.KamailioProxy{HEPTo: hepTo, CaptureID: 7}.Siptrace()
		homer = []string{"--homer=" + hepTo.String(), "--homer-id=8"}
	}
	if err := os.WriteFile(cfg, []byte(kamailioConfig(rtpengine, trace)), 0o644); err != nil {
		t.Fatal(err)
	}
	if rtpengine {
		h.Start(t, "rtpengine", append([]string{"--config-file=none", "-f", "-E", "--table=-1", "--interface=" + addr,
			"--listen-ng=127.0.0.1:2223", "--port-min=30000", "--port-max=30100", "--log-level=5"}, homer...)...)
		waitUDP(t, h, "127.0.0.1:2223")
	}
	runKamailio(t, h, addr, dir, cfg)
}

// runKamailio runs Kamailio on h at addr:5060 with the configuration file
// cfg, its work files in dir, and waits until it listens.
func runKamailio(t *testing.T, h *natlab.Host, addr, dir, cfg string) {
	t.Helper()
	h.Start(t, "kamailio", "-f", cfg, "-l", "udp:"+addr+":5060", "-m", "64", "-M", "8", "-DD", "-E",
		"-w", dir, "-P", filepath.Join(dir, "kamailio.pid"))
	waitUDP(t, h, addr+":5060")
}

// waitUDP waits until something in h listens on the UDP address.
func waitUDP(t *testing.T, h *natlab.Host, addr string) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		out, _ := h.Run(context.Background(), "ss", "-Hnlu")
		if strings.Contains(string(out), addr) {
			return
		}
	}
	t.Fatalf("nothing listens on udp %s in %s", addr, h.Name())
}

// baresipCall has a baresip phone (user 100) on caller call one (user
// 200, answering) on callee, both registered at registrar, for talk
// (endLabCall ends it).
func baresipCall(t *testing.T, registrar netip.AddrPort, caller, callee *natlab.Host, talk time.Duration, dumps ...*natlab.Proc) {
	t.Helper()
	secs := int(talk / time.Second)
	answering := natlab.StartBaresip(t, callee, natlab.BaresipConfig{User: "200", Registrar: registrar, AutoAnswer: true, Seconds: secs + 6})
	time.Sleep(2 * time.Second) // the REGISTER and its 200 OK
	calling := natlab.StartBaresip(t, caller, natlab.BaresipConfig{User: "100", Registrar: registrar, Seconds: secs,
		Dial: "sip:200@" + registrar.Addr().String()})
	endLabCall(t, calling.Proc, talk+22*time.Second, answering.Proc, dumps...)
}

// endLabCall waits up to timeout for the calling phone to finish, then
// stops the callee and, once its last packets are written, the captures.
func endLabCall(t *testing.T, calling *natlab.Proc, timeout time.Duration, callee *natlab.Proc, dumps ...*natlab.Proc) {
	t.Helper()
	select {
	case <-calling.Done():
	case <-time.After(timeout):
		t.Fatal("the calling phone did not finish")
	}
	callee.Stop()
	time.Sleep(300 * time.Millisecond)
	for _, d := range dumps {
		d.Stop()
	}
}

// recordLabFile keeps a lab capture in testdata with -record-lab (and in
// NATDOC_KEEP_LAB).
func recordLabFile(t *testing.T, path, name string) {
	t.Helper()
	data := keepLabFile(t, path, name)
	if *recordLab && !t.Failed() {
		if err := os.WriteFile(filepath.Join("..", "testdata", name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// keepLabFile copies a lab capture to the directory NATDOC_KEEP_LAB names,
// if any, and returns its bytes: captures of what shows only now and then
// are kept by hand.
func keepLabFile(t *testing.T, path, name string) []byte {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if dir := os.Getenv("NATDOC_KEEP_LAB"); dir != "" {
		_ = os.WriteFile(filepath.Join(dir, name), data, 0o644)
	}
	return data
}

// TestLabInboundToUnfixedRegistration: the second classic NAT complaint,
// "incoming calls never ring", with real phones. baresip at 192.168.1.10
// behind a real nftables NAT registers at Kamailio without NAT handling,
// which stores the private Contact; a call to it from the internet is
// forwarded to 192.168.1.10, where nothing on the internet can reach.
// Captured on the server and on the phone's LAN, each must show it.
func TestLabInboundToUnfixedRegistration(t *testing.T) {
	natlab.Require(t)
	lab := natlab.New(t)
	server := lab.PublicHost("server", "203.0.113.20")
	caller := lab.PublicHost("caller", "203.0.113.10")
	r1 := lab.Router("r1", natlab.RouterConfig{WAN: "203.0.113.1", LAN: "192.168.1.1/24", NAT: natlab.NATConfig{Mapping: natlab.EndpointIndependent}})
	phone := r1.LANHost("phone", "192.168.1.10")
	startKamailio(t, server, "203.0.113.20", false, netip.AddrPort{})
	serverPcap := filepath.Join(t.TempDir(), "server.pcap")
	phonePcap := filepath.Join(t.TempDir(), "phone.pcap")
	dumps := []*natlab.Proc{server.StartTcpdump(t, serverPcap, "udp"), phone.StartTcpdump(t, phonePcap, "udp")}
	baresipCall(t, netip.MustParseAddrPort("203.0.113.20:5060"), caller, phone, 38*time.Second, dumps...)
	t.Run("server side", func(t *testing.T) {
		res := analyzePath(t, serverPcap)
		if len(res.Calls) != 1 {
			t.Fatalf("%d calls, want 1", len(res.Calls))
		}
		c := res.Calls[0]
		t.Logf("%s %+v: %s; legs %d, findings %v", c.Verdict, c.NotAnswered, c.Explain, len(c.Legs), findingIDs(c))
		if c.Verdict != report.VerdictNotAnswered || len(c.Legs) != 2 || !hasFinding(c, IDRequestToPrivate) {
			t.Errorf("want a not-answered call of two legs, the second an INVITE to 192.168.1.10 nobody answers")
		}
		if captureFinding(res, IDRegisterContactNotFixed) == nil {
			t.Errorf("%s missing: %v", IDRegisterContactNotFixed, res.Findings)
		}
		recordLabFile(t, serverPcap, "natlab-inbound-unfixed-server.pcap")
	})
	t.Run("phone side", func(t *testing.T) {
		res := analyzePath(t, phonePcap)
		if len(res.Calls) != 0 {
			t.Errorf("%d calls: the INVITE must never reach the phone", len(res.Calls))
		}
		if captureFinding(res, IDRegisterContactNotFixed) == nil {
			t.Errorf("%s missing: %v", IDRegisterContactNotFixed, res.Findings)
		}
		recordLabFile(t, phonePcap, "natlab-inbound-unfixed-phone.pcap")
	})
}

// TestLabProxyTwoLegs: a call between two baresip phones through Kamailio
// with rtpengine anchoring the media, captured on the proxy host: one
// call, two legs, each with its own SDP and RTP, both two-way.
func TestLabProxyTwoLegs(t *testing.T) {
	natlab.Require(t)
	lab := natlab.New(t)
	server := lab.PublicHost("server", "203.0.113.20")
	a := lab.PublicHost("alice", "203.0.113.10")
	b := lab.PublicHost("bob", "203.0.113.11")
	startKamailio(t, server, "203.0.113.20", true, netip.AddrPort{})
	pcap := filepath.Join(t.TempDir(), "proxy.pcap")
	dump := server.StartTcpdump(t, pcap, "udp")
	baresipCall(t, netip.MustParseAddrPort("203.0.113.20:5060"), a, b, 8*time.Second, dump)
	res := analyzePath(t, pcap)
	if len(res.Calls) != 1 {
		t.Fatalf("%d calls, want 1", len(res.Calls))
	}
	c := res.Calls[0]
	t.Logf("%s: %s; findings %v", c.Verdict, c.Explain, findingIDs(c))
	if c.Verdict != report.VerdictTwoWay || len(c.Legs) != 2 {
		t.Fatalf("verdict %s with %d legs, want two-way with 2", c.Verdict, len(c.Legs))
	}
	for i, l := range c.Legs {
		pkts, _ := directionCounts(report.Call{Streams: l.Streams})
		t.Logf("leg %d %s → %s: %s, RTP %v", i+1, l.Caller.SignalAddr, l.Callee.SignalAddr, l.Verdict, pkts)
		if l.Verdict != report.VerdictTwoWay || pkts[0] < 100 || pkts[1] < 100 {
			t.Errorf("leg %d: %s with RTP %v, want two-way", i+1, l.Verdict, pkts)
		}
	}
	recordLabFile(t, pcap, "natlab-proxy-two-legs.pcap")
}

// TestLabOneWayPastTheProxy: Kamailio without rtpengine passes the phones'
// SDP on, so their media goes directly between them, past the proxy. Bob's
// host firewall lets his SIP out but not his media. Captured on the
// internet's switch, which sees both legs' SIP and the media: one call of
// two legs, one-way (Alice, the caller, cannot hear), told once, between
// the two phones.
func TestLabOneWayPastTheProxy(t *testing.T) {
	pcap := directMediaCall(t, "add chain inet natdoc_fw out { type filter hook output priority 0; policy accept; }\n"+
		"add rule inet natdoc_fw out udp dport != 5060 drop")
	res := analyzePath(t, pcap)
	if len(res.Calls) != 1 {
		t.Fatalf("%d calls, want 1", len(res.Calls))
	}
	c := res.Calls[0]
	pkts, _ := directionCounts(c)
	t.Logf("%s (%s cannot hear): %s; RTP %v; legs %d; findings %v", c.Verdict, c.CannotHear, c.Explain, pkts, len(c.Legs), findingIDs(c))
	if c.Verdict != report.VerdictOneWay || c.CannotHear != "caller" || len(c.Legs) != 2 || pkts[0] < 100 || pkts[1] != 0 {
		t.Errorf("want one-way (the caller cannot hear) on two legs, Alice's RTP only")
	}
	var titles []string
	for _, f := range c.Findings {
		if f.ID == report.IDOneWayAudio {
			titles = append(titles, f.Title)
		}
	}
	if len(titles) != 1 || !strings.Contains(titles[0], "past the proxy 203.0.113.20") {
		t.Errorf("one-way findings %q, want one, of the media past the proxy", titles)
	}
}

// TestLabRTPRefusedByFirewall: Bob's host firewall lets SIP in and
// rejects every other UDP (nftables reject: ICMP port unreachable), so
// Alice's RTP, seen on the internet's switch arriving at Bob's address,
// reaches no application. Kamailio without rtpengine passes the media
// past itself. The ICMP errors that come back all call long make the call
// one-way (Bob cannot hear), not two-way, with the remedy for a refusing
// receiver.
func TestLabRTPRefusedByFirewall(t *testing.T) {
	pcap := directMediaCall(t, "add chain inet natdoc_fw in { type filter hook input priority 0; policy accept; }\n"+
		"add rule inet natdoc_fw in udp dport != 5060 reject")
	f := oneWayFinding(t, pcap, "callee")
	if f.Remedy != remedyRefusedMedia || !strings.Contains(f.Evidence[0].Text, "refused all along (ICMP port unreachable: ") {
		t.Errorf("one-way finding %+v, want the refused RTP and its remedy", f)
	}
}

// directMediaCall: Alice (203.0.113.10) calls Bob (203.0.113.11), two
// baresip phones, through Kamailio without rtpengine (203.0.113.20), so
// their media goes directly between them; Bob's host firewall is the
// inet table natdoc_fw with bobRules. It returns the capture of the
// internet's switch (UDP and ICMP).
func directMediaCall(t *testing.T, bobRules string) string {
	t.Helper()
	natlab.Require(t)
	lab := natlab.New(t)
	server := lab.PublicHost("server", "203.0.113.20")
	a := lab.PublicHost("alice", "203.0.113.10")
	b := lab.PublicHost("bob", "203.0.113.11")
	b.Nft(t, "add table inet natdoc_fw\n"+bobRules)
	startKamailio(t, server, "203.0.113.20", false, netip.AddrPort{})
	pcap := filepath.Join(t.TempDir(), "switch.pcap")
	dump := lab.Core().StartTcpdumpOn(t, "br0", pcap, "udp or icmp")
	baresipCall(t, netip.MustParseAddrPort("203.0.113.20:5060"), a, b, 8*time.Second, dump)
	return pcap
}

// TestLabInviteToClosedPort: a phone dials a host where nothing listens on
// UDP 5060; the host's kernel answers each INVITE with ICMP port
// unreachable. Captured on the internet's switch (UDP and ICMP): the call
// is not answered, unreachable, and its finding quotes the ICMP errors.
func TestLabInviteToClosedPort(t *testing.T) {
	natlab.Require(t)
	lab := natlab.New(t)
	server := lab.PublicHost("server", "203.0.113.20")
	a := lab.PublicHost("alice", "203.0.113.10")
	lab.PublicHost("nobody", "203.0.113.30")
	startKamailio(t, server, "203.0.113.20", false, netip.AddrPort{})
	pcap := filepath.Join(t.TempDir(), "switch.pcap")
	dump := lab.Core().StartTcpdumpOn(t, "br0", pcap, "udp or icmp")
	phone := natlab.StartBaresip(t, a, natlab.BaresipConfig{User: "100", Registrar: netip.MustParseAddrPort("203.0.113.20:5060"),
		Dial: "sip:200@203.0.113.30"})
	time.Sleep(10 * time.Second) // the REGISTER, then the INVITE and its retransmissions
	phone.Proc.Stop()
	dump.Stop()
	res := analyzePath(t, pcap)
	if len(res.Calls) != 1 {
		t.Fatalf("%d calls, want 1", len(res.Calls))
	}
	c := res.Calls[0]
	t.Logf("%s %+v: %s; findings %v", c.Verdict, c.NotAnswered, c.Explain, findingIDs(c))
	if c.Verdict != report.VerdictNotAnswered || c.NotAnswered == nil || c.NotAnswered.Reason != report.NotAnsweredUnreachable {
		t.Errorf("want not-answered, unreachable")
	}
	f := findingOf(c, IDRequestUnanswered)
	if f == nil {
		t.Fatalf("no %s finding", IDRequestUnanswered)
	}
	quoted := false
	for _, ev := range f.Evidence {
		quoted = quoted || strings.Contains(ev.Text, "ICMP destination unreachable came back from 203.0.113.30") && strings.Contains(ev.Text, "port unreachable")
	}
	if !quoted {
		t.Errorf("the finding does not quote the ICMP errors: %+v", f.Evidence)
	}
}
