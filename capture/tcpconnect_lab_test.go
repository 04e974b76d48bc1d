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

// tcpLab is a real Kamailio on the internet taking SIP over UDP and TCP,
// Alice's baresip registering over TCP from behind her router's NAT and
// Bob's over UDP on the internet, captured on the internet's switch.
type tcpLab struct {
	lab       *natlab.Lab
	router    *natlab.Router
	alice     *natlab.Host
	registrar netip.AddrPort
	pcap      string
	dump      *natlab.Proc
}

func newTCPLab(t *testing.T, kamailioCore string) *tcpLab {
	natlab.Require(t)
	lab := natlab.New(t)
	r1 := lab.Router("r1", natlab.RouterConfig{WAN: "203.0.113.1", LAN: "192.168.1.1/24",
		NAT: natlab.NATConfig{Mapping: natlab.EndpointIndependent}})
	startNATKamailio(t, lab.PublicHost("server", "203.0.113.20"), "203.0.113.20", natKamailio{tcp: true, core: kamailioCore})
	l := &tcpLab{lab: lab, router: r1, alice: r1.LANHost("alice", "192.168.1.10"), registrar: netip.MustParseAddrPort("203.0.113.20:5060"),
		pcap: filepath.Join(t.TempDir(), "switch.pcap")}
	l.dump = lab.Core().StartTcpdumpOn(t, "br0", l.pcap, "tcp or udp or icmp")
	return l
}

// bobCalls has Bob call Alice (user 100) and hang up after talk.
func (l *tcpLab) bobCalls(t *testing.T, talk time.Duration) *natlab.Baresip {
	return natlab.StartBaresip(t, l.lab.PublicHost("bob", "203.0.113.11"), natlab.BaresipConfig{User: "200", Registrar: l.registrar,
		Seconds: int(talk / time.Second), Dial: "sip:100@203.0.113.20"})
}

// finding returns the capture's only call and its finding id.
func (l *tcpLab) finding(t *testing.T, id report.FindingID) (report.Call, *report.Finding) {
	t.Helper()
	res := analyzePath(t, l.pcap)
	if len(res.Calls) != 1 {
		t.Fatalf("%d calls, want 1", len(res.Calls))
	}
	c := res.Calls[0]
	for i, f := range c.Findings {
		if f.ID == id {
			return c, &c.Findings[i]
		}
	}
	t.Fatalf("no %s finding: %v", id, findingIDs(c))
	return c, nil
}

// rejected477 is the capture's call's sip-tcp-connect-failed finding,
// the call rejected 477 as Kamailio does when it cannot send to the next
// hop.
func (l *tcpLab) rejected477(t *testing.T) *report.Finding {
	t.Helper()
	c, f := l.finding(t, IDTCPConnectFailed)
	if c.Verdict != report.VerdictNotAnswered || c.NotAnswered == nil || c.NotAnswered.Status != 477 {
		t.Errorf("verdict %s %+v, want rejected 477", c.Verdict, c.NotAnswered)
	}
	return f
}

// TestLabTCPAckToPrivateContact: Alice answers Bob's call over her TCP
// connection with her private Contact; Kamailio passes Bob's ACK on by
// opening a TCP connection to that Contact, and the internet's router
// answers each attempt with ICMP network unreachable. Alice resends her
// 200 OK for 32 s: the finding that the answer was never acknowledged
// shows the connections Kamailio tried, and what refused them.
func TestLabTCPAckToPrivateContact(t *testing.T) {
	t.Parallel() // it mostly waits on the phones' and servers' timers
	l := newTCPLab(t, "")
	alice := natlab.StartBaresip(t, l.alice, natlab.BaresipConfig{User: "100", Registrar: l.registrar, AutoAnswer: true, Transport: "tcp"})
	time.Sleep(2 * time.Second) // registered
	bob := l.bobCalls(t, 20*time.Second)
	time.Sleep(12 * time.Second) // Alice resends her 200 OK all along
	bob.Proc.Stop()
	alice.Proc.Stop()
	time.Sleep(300 * time.Millisecond)
	l.dump.Stop()
	_, f := l.finding(t, IDAnswerNotAcknowledged)
	found := false
	for _, e := range f.Evidence {
		found = found || strings.HasPrefix(e.Text, "203.0.113.20 tried") && strings.Contains(e.Text, "to open a TCP connection to 192.168.1.10:") &&
			strings.Contains(e.Text, "(the answer's Contact) to pass the ACK on, and none opened: ICMP destination unreachable came back from") &&
			strings.Contains(e.Text, "network unreachable")
	}
	if !found {
		t.Errorf("no evidence of Kamailio's TCP connections to the private Contact: %+v", f.Evidence)
	}
}

// TestLabTCPPhoneGone: Alice's phone registers over TCP from behind NAT
// and is killed, its connection closing (a mobile app in the background).
// Kamailio keeps her binding at the NAT's address; when Bob calls, it
// opens a new connection there, the router resets it, and Bob's call is
// rejected 477: the finding names the connection refused, Alice's
// REGISTER from that address and her phone's side closing the connection
// she registered over, with the remedy to reach her over her own
// connection.
func TestLabTCPPhoneGone(t *testing.T) {
	t.Parallel() // it mostly waits on the phones' and servers' timers
	l := newTCPLab(t, "")
	alice := natlab.StartBaresip(t, l.alice, natlab.BaresipConfig{User: "100", Registrar: l.registrar, AutoAnswer: true, Transport: "tcp"})
	time.Sleep(3 * time.Second)
	alice.Proc.Kill()
	time.Sleep(time.Second)
	bob := l.bobCalls(t, 4*time.Second)
	select {
	case <-bob.Proc.Done():
	case <-time.After(30 * time.Second):
		t.Fatal("Bob's phone did not finish")
	}
	time.Sleep(300 * time.Millisecond)
	l.dump.Stop()
	f := l.rejected477(t)
	if !strings.HasPrefix(f.Title, "203.0.113.20 could not open a TCP connection to 203.0.113.1:") || !strings.Contains(f.Title, "100 registered from there, behind its NAT") ||
		!strings.Contains(f.Title, "; the phone's side closed the TCP connection 100 registered over") ||
		len(f.Evidence) != 3 || !strings.Contains(f.Evidence[0].Text, "203.0.113.1 refused it with a reset") || f.Remedy != remedyKeepTCPOpen {
		t.Errorf("finding %+v", f)
	}
}

// TestLabTCPServerClosed: Alice's phone registers over TCP from behind
// NAT for ten minutes, but Kamailio closes connections idle for 8 s
// (tcp_connection_lifetime shorter than the registration); baresip does
// not register again. Bob's call finds no way to her: the finding says
// the server itself closed her connection, long before her registration
// ended.
func TestLabTCPServerClosed(t *testing.T) {
	t.Parallel() // it mostly waits on the phones' and servers' timers
	l := newTCPLab(t, "tcp_connection_lifetime=8\n")
	alice := natlab.StartBaresip(t, l.alice, natlab.BaresipConfig{User: "100", Registrar: l.registrar, AutoAnswer: true, Transport: "tcp"})
	time.Sleep(30 * time.Second) // Kamailio's timer closes it 8-16 s in
	bob := l.bobCalls(t, 4*time.Second)
	select {
	case <-bob.Proc.Done():
	case <-time.After(40 * time.Second):
		t.Fatal("Bob's phone did not finish")
	}
	alice.Proc.Stop()
	time.Sleep(300 * time.Millisecond)
	l.dump.Stop()
	f := l.rejected477(t)
	if !strings.Contains(f.Title, "; 203.0.113.20 itself closed the TCP connection 100 registered over") || !strings.Contains(f.Title, "its idle timeout for connections is shorter than the registration") ||
		!strings.HasPrefix(f.Evidence[len(f.Evidence)-1].Text, "203.0.113.20:5060 closed the connection 203.0.113.1:") {
		t.Errorf("finding %+v", f)
	}
}

// TestLabTCPSynDropped: as TestLabTCPPhoneGone, but Alice's router drops
// connections coming in silently (no reset, as many home routers do):
// Kamailio resends its SYN until its connect timeout, and Bob's call
// fails without ringing. The cause is the connection, not the generic
// "callee never rang": sip-tcp-connect-failed, saying nothing answered.
func TestLabTCPSynDropped(t *testing.T) {
	t.Parallel() // it mostly waits on the phones' and servers' timers
	l := newTCPLab(t, "")
	alice := natlab.StartBaresip(t, l.alice, natlab.BaresipConfig{User: "100", Registrar: l.registrar, AutoAnswer: true, Transport: "tcp"})
	time.Sleep(3 * time.Second)
	alice.Proc.Kill()
	for _, args := range [][]string{{"add", "table", "ip", "guard"},
		{"add", "chain", "ip", "guard", "input", "{", "type", "filter", "hook", "input", "priority", "0", ";", "policy", "accept", ";", "}"},
		{"add", "rule", "ip", "guard", "input", "iifname", "wan0", "tcp", "flags", "syn", "drop"}} {
		if out, err := l.router.Run(context.Background(), "nft", args...); err != nil {
			t.Fatalf("nft %v: %v: %s", args, err, out)
		}
	}
	time.Sleep(time.Second)
	bob := l.bobCalls(t, 20*time.Second)
	time.Sleep(15 * time.Second) // Kamailio gives up connecting after 10 s
	bob.Proc.Stop()
	time.Sleep(300 * time.Millisecond)
	l.dump.Stop()
	c, f := l.finding(t, IDTCPConnectFailed)
	if c.Verdict != report.VerdictNotAnswered || c.NotAnswered == nil || c.NotAnswered.Rang {
		t.Errorf("verdict %s %+v, want not answered, never rang", c.Verdict, c.NotAnswered)
	}
	if !strings.Contains(f.Evidence[0].Text, "none opened: nothing answered (a NAT or firewall drops connections coming in)") || !strings.Contains(f.Title, "100 registered from there") {
		t.Errorf("finding %+v", f)
	}
}

// TestLabTCPMappingLost: Alice's phone registers over TCP from behind NAT,
// and her router then forgets the connection's mapping (conntrack
// flushed, as a router restart or a short TCP timeout does). Kamailio
// sends Bob's INVITE over the connection, the router resets it, and Bob
// hears nothing until he hangs up: Kamailio's INVITE to Alice is
// unreachable, its finding names the reset, with the remedy to keep the
// phone's connection open.
func TestLabTCPMappingLost(t *testing.T) {
	t.Parallel() // it mostly waits on the phones' and servers' timers
	l := newTCPLab(t, "")
	alice := natlab.StartBaresip(t, l.alice, natlab.BaresipConfig{User: "100", Registrar: l.registrar, AutoAnswer: true, Transport: "tcp"})
	time.Sleep(3 * time.Second)
	if out, err := l.router.Run(context.Background(), "conntrack", "-F"); err != nil {
		t.Fatalf("conntrack -F: %v: %s", err, out)
	}
	bob := l.bobCalls(t, 4*time.Second)
	time.Sleep(6 * time.Second) // Bob hangs up at 4 s, having heard nothing
	bob.Proc.Stop()
	alice.Proc.Stop()
	time.Sleep(300 * time.Millisecond)
	l.dump.Stop()
	_, f := l.finding(t, IDRequestUnanswered)
	if !strings.HasPrefix(f.Title, "Nothing answered the INVITE to 203.0.113.1:") || !strings.Contains(f.Title, "over TCP: 203.0.113.1:") ||
		!strings.Contains(f.Title, "reset the connection it went over, so it never arrived") || f.Remedy != remedyKeepTCPOpen ||
		len(f.Evidence) < 2 || !strings.HasPrefix(f.Evidence[1].Text, "TCP reset from 203.0.113.1:") {
		t.Errorf("finding %+v", f)
	}
}

// natKamailio is how the lab's Kamailio serves phones behind NAT, as
// servers that do so are set: the REGISTER's source recorded for each
// Contact (nathelper's fix_nated_register); listening on TCP as well as
// UDP when tcp is set; core settings added at the top of its
// configuration; and, when pingEvery is set, every contact pinged with
// SIP OPTIONS that often at the address its REGISTER came from.
type natKamailio struct {
	tcp       bool
	core      string
	pingEvery time.Duration
	// maxExpires caps the time a registration is granted (0: Kamailio's
	// default, an hour).
	maxExpires time.Duration
	// refuse, when set, is a source address whose REGISTERs Kamailio
	// refuses 403, as an access list that lacks a site does.
	refuse string
	// invitePassword, when set, is the password Kamailio asks every
	// caller for (407), refusing a wrong one 403.
	invitePassword string
}

// startNATKamailio runs that Kamailio on h at addr:5060 and waits until it
// listens.
func startNATKamailio(t *testing.T, h *natlab.Host, addr string, k natKamailio) {
	t.Helper()
	dir := t.TempDir()
	cfg := kamailioConfig(false, "")
	cfg = strings.Replace(cfg, "debug=2\n", "debug=2\n"+k.core, 1)
	params := "modparam(\"nathelper\", \"received_avp\", \"$avp(RECEIVED)\")\nmodparam(\"registrar\", \"received_avp\", \"$avp(RECEIVED)\")\n"
	onRegister := "\t\tfix_nated_register();\n"
	if k.maxExpires > 0 {
		params += fmt.Sprintf("modparam(\"registrar\", \"max_expires\", %d)\n", int(k.maxExpires.Seconds()))
	}
	if k.pingEvery > 0 {
		params += fmt.Sprintf("modparam(\"nathelper\", \"natping_interval\", %d)\nmodparam(\"nathelper\", \"ping_nated_only\", 0)\n", int(k.pingEvery.Seconds())) +
			"modparam(\"nathelper\", \"sipping_bflag\", 7)\nmodparam(\"nathelper\", \"sipping_from\", \"sip:pinger@" + addr + "\")\n"
		onRegister = "\t\tsetbflag(7);\n" + onRegister
	}
	if k.invitePassword != "" {
		params += "loadmodule \"auth.so\"\n"
		cfg = strings.Replace(cfg, "\tif (is_method(\"INVITE\")) {\n\t\trecord_route();", fmt.Sprintf(`	if (is_method("INVITE")) {
		pv_proxy_authenticate("$fd", "%s", "0");
		switch ($rc) {
		case 1:
			consume_credentials();
			break;
		case -2:
			sl_send_reply("403", "Wrong password");
			exit;
		default:
			proxy_challenge("$fd", "0");
			exit;
		}
		record_route();`, k.invitePassword), 1)
	}
	cfg = strings.Replace(cfg, "modparam(\"usrloc\", \"db_mode\", 0)\n", "loadmodule \"nathelper.so\"\nmodparam(\"usrloc\", \"db_mode\", 0)\n"+params, 1)
	if k.refuse != "" {
		onRegister = fmt.Sprintf("\t\tif (src_ip==%s) {\n\t\t\tsl_send_reply(\"403\", \"Forbidden\");\n\t\t\texit;\n\t\t}\n", k.refuse) + onRegister
	}
	cfg = strings.Replace(cfg, "\t\tif (!save(\"location\")) {", onRegister+"\t\tif (!save(\"location\")) {", 1)
	path := filepath.Join(dir, "kamailio.cfg")
	if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	listen := []string{"-l", "udp:" + addr + ":5060"}
	if k.tcp {
		listen = append(listen, "-l", "tcp:"+addr+":5060")
	}
	h.Start(t, "kamailio", append(append([]string{"-f", path}, listen...), "-m", "64", "-M", "8", "-DD", "-E",
		"-w", dir, "-P", filepath.Join(dir, "kamailio.pid"))...)
	waitUDP(t, h, addr+":5060")
}
