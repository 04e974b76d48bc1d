//go:build linux

package capture

import (
	"context"
	"flag"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/natdoc/natdoc/internal/natlab"
	"github.com/natdoc/natdoc/report"
)

var recordLab = flag.Bool("record-lab", false, "rewrite testdata/natlab-*.pcap from fresh lab calls")

// baresipConfig writes a baresip configuration for a phone without a sound
// card (LAB-NOTES: ausine source at 48 kHz stereo, received audio to a
// file, PCMU only, fixed RTP ports, no RTCP mux).
func baresipConfig(t *testing.T, listen, account string, stun bool) string {
	t.Helper()
	dir := t.TempDir()
	// The NAT module must load before account.so parses medianat=.
	modules := []string{"g711.so", "ausine.so", "aufile.so"}
	if stun {
		modules = append(modules, "stun.so")
	}
	modules = append(modules, "account.so", "menu.so")
	var mods strings.Builder
	for _, m := range modules {
		fmt.Fprintf(&mods, "module %s\n", m)
	}
	conf := fmt.Sprintf(`poll_method epoll
sip_listen %s
sip_trans_def udp
audio_player aufile,%s
audio_source ausine,440
audio_alert aufile,/dev/null
ausrc_srate 48000
ausrc_channels 2
auplay_srate 8000
rtp_ports 10000-10010
rtcp_mux no
module_path /usr/lib/baresip/modules
%s`, listen, filepath.Join(dir, "heard.wav"), mods.String())
	for name, body := range map[string]string{"config": conf, "accounts": account + "\n", "contacts": ""} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// labCall places one baresip call from a phone behind a real nftables NAT
// (192.168.1.10 behind 203.0.113.1) to a baresip phone on the internet
// (203.0.113.10), captured with tcpdump at the internet phone. With stun,
// the caller learns its public mapping from coturn and puts it in SDP.
func labCall(t *testing.T, stun, alg bool) string {
	lab := natlab.New(t)
	callee := lab.PublicHost("callee", "203.0.113.10")
	r1 := lab.Router("r1", natlab.RouterConfig{WAN: "203.0.113.1", LAN: "192.168.1.1/24",
		NAT: natlab.NATConfig{Mapping: natlab.EndpointIndependent, SIPALG: alg}})
	phone := r1.LANHost("phone", "192.168.1.10")
	account := "<sip:100@192.168.1.10>;regint=0"
	if stun {
		stunHost := lab.PublicHost("stun", "198.51.100.10", "198.51.100.11")
		srv := natlab.StartCoturn(t, stunHost)
		if os.Getenv("NATDOC_DEBUG_LAB") != "" {
			stunHost.Start(t, "tcpdump", "-i", "eth0", "-n", "-U", "udp or icmp")
			r1.Start(t, "tcpdump", "-i", "any", "-n", "-U", "udp or icmp")
		}
		account += fmt.Sprintf(";medianat=stun;stunserver=stun:%s", srv.Primary)
	}
	pcap, dump := labTcpdump(t, callee)
	calleeDir := baresipConfig(t, "203.0.113.10:5060", "<sip:200@203.0.113.10>;regint=0;answermode=auto", false)
	b := callee.Start(t, "baresip", "-f", calleeDir, "-t", "12")
	time.Sleep(500 * time.Millisecond)
	phoneDir := baresipConfig(t, "192.168.1.10:5060", account, stun)
	caller := phone.Start(t, "baresip", "-f", phoneDir, "-t", "8", "-e", "/dial sip:200@203.0.113.10")
	endLabCall(t, caller, 20*time.Second, b, dump)
	t.Logf("caller log:\n%s", caller.Log())
	return pcap
}

// TestLabCalls records real calls through real NAT and judges them: the
// phone that leaks 192.168.1.10 in SDP cannot hear; with STUN it can.
// go test ./capture -run LabCalls -record-lab stores them in testdata/.
func TestLabCalls(t *testing.T) {
	natlab.Require(t)
	for _, tc := range []struct {
		name    string
		stun    bool
		alg     bool
		file    string
		verdict report.Verdict
		deaf    string
	}{
		{"leaked private address", false, false, "natlab-one-way-private-sdp.pcap", report.VerdictOneWay, "caller"},
		{"fixed with STUN", true, false, "natlab-two-way-stun.pcap", report.VerdictTwoWay, ""},
		{"rewritten by the kernel SIP ALG", false, true, "natlab-sip-alg.pcap", report.VerdictTwoWay, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := labCall(t, tc.stun, tc.alg)
			if dir := os.Getenv("NATDOC_KEEP_LAB"); dir != "" {
				data, _ := os.ReadFile(path)
				_ = os.WriteFile(filepath.Join(dir, tc.file), data, 0o644)
			}
			res := analyzePath(t, path)
			if len(res.Calls) != 1 {
				t.Fatalf("%d calls", len(res.Calls))
			}
			c := res.Calls[0]
			pkts, _ := directionCounts(c)
			t.Logf("%s: %s (%s) packets %v: %s; findings %v", tc.name, c.Verdict, c.CannotHear, pkts, c.Explain, findingIDs(c))
			if tc.stun && natChangedPort(c) {
				// The callee's first RTP can reach the router before the
				// caller's leaves; Linux masquerade then gives the caller's
				// media another port than its STUN mapping, and the callee's
				// RTP to the SDP port is lost. The packets show it; natdoc
				// must say so, not two-way.
				t.Logf("the NAT gave the caller's media another port than its STUN mapping")
				tc.verdict, tc.deaf = report.VerdictOneWay, "caller"
			}
			if c.Verdict != tc.verdict || c.CannotHear != tc.deaf {
				t.Errorf("verdict %s (%q), want %s (%q)", c.Verdict, c.CannotHear, tc.verdict, tc.deaf)
			}
			if *recordLab && !t.Failed() {
				data, err := os.ReadFile(path)
				if err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(filepath.Join("..", "testdata", tc.file), data, 0o644); err != nil {
					t.Fatal(err)
				}
			}
		})
	}
}

// natChangedPort says whether the caller's RTP left its NAT from another
// port than its SDP named.
func natChangedPort(c report.Call) bool {
	for _, s := range c.Streams {
		if s.Offer == nil {
			continue
		}
		for _, f := range s.Flows {
			if f.Direction == "caller->callee" && !f.RTCP && f.Src != s.Offer.Addr {
				return true
			}
		}
	}
	return false
}

// TestLabUnacknowledgedAnswer: the classic "port forward without NAT fix"
// fault with real phones. baresip 100 at 192.168.1.10 behind a real
// nftables NAT (no SIP ALG, no STUN) answers a call from baresip 200 on
// the internet that r1's port forward lets in. Its 200 OK names its
// private Contact, so the caller's ACK goes to 192.168.1.10, which the
// internet cannot reach; the callee retransmits the 200 OK (RFC 3261
// §13.3.1.4, T1 doubling to T2) for 64*T1 = 32 s and then hangs up with a
// BYE. Captured at the caller, which stays up long enough to see the BYE.
func TestLabUnacknowledgedAnswer(t *testing.T) {
	natlab.Require(t)
	t.Parallel() // it waits on SIP timers
	const file = "natlab-unacknowledged-answer.pcap"
	lab := natlab.New(t)
	caller := lab.PublicHost("caller", "203.0.113.10")
	// Only SIP is forwarded, as "open UDP 5060 to the phone" advice has it.
	// Forwarding the RTP range too would change nothing: the caller sends
	// its ACK and its RTP to the private 192.168.1.10 that the callee's
	// Contact and SDP name, never to 203.0.113.1, so no forward sees them.
	r1 := lab.Router("r1", natlab.RouterConfig{WAN: "203.0.113.1", LAN: "192.168.1.1/24",
		NAT: natlab.NATConfig{Mapping: natlab.EndpointIndependent,
			Forwards: []natlab.Forward{{Proto: "udp", Ports: "5060", To: "192.168.1.10"}}}})
	phone := r1.LANHost("phone", "192.168.1.10")
	pcap, dump := labTcpdump(t, caller)
	calleeDir := baresipConfig(t, "192.168.1.10:5060", "<sip:100@192.168.1.10>;regint=0;answermode=auto", false)
	answering := phone.Start(t, "baresip", "-f", calleeDir, "-t", "50")
	time.Sleep(500 * time.Millisecond)
	// The caller must outlive the callee's 32 s of retransmissions to
	// capture its BYE.
	callerDir := baresipConfig(t, "203.0.113.10:5060", "<sip:200@203.0.113.10>;regint=0", false)
	calling := caller.Start(t, "baresip", "-f", callerDir, "-t", "38", "-e", "/dial sip:100@203.0.113.1")
	endLabCall(t, calling, 50*time.Second, answering, dump)
	// The whole logs (with baresip's status line every 100 ms) are shown
	// when the test fails; here only how each side saw the call end.
	for _, p := range []struct {
		who string
		log string
	}{{"caller", calling.Log()}, {"callee", answering.Log()}} {
		for _, l := range strings.Split(p.log, "\n") {
			if i := strings.Index(l, "sip:"); i >= 0 && (strings.Contains(l, "session closed") || strings.Contains(l, "terminated")) {
				t.Logf("%s: %s", p.who, l[i:])
			}
		}
	}

	// The packets themselves must show the fault: the callee's 200 OK
	// retransmitted, and its BYE about 64*T1 after the first.
	var oks []time.Time
	var bye time.Time
	acks := map[string]int{}
	for _, m := range labSIPMessages(t, pcap) {
		switch {
		case m.src.Addr() == r1.WAN() && m.status == 200 && m.cseqMethod == "INVITE":
			oks = append(oks, m.at)
		case m.src.Addr() == r1.WAN() && m.method == "BYE" && bye.IsZero():
			bye = m.at
		case m.method == "ACK":
			acks[m.dst.String()]++
		}
	}
	t.Logf("callee's 200 OK to the INVITE sent %d times; caller's ACKs by destination %v", len(oks), acks)
	if len(oks) < 5 {
		t.Errorf("the callee's 200 OK was seen %d times, want at least 5 (retransmitted while unacknowledged)", len(oks))
	}
	if len(oks) == 0 || bye.IsZero() {
		t.Fatalf("no BYE from the callee after its 200 OK (200 OKs %d)", len(oks))
	}
	after := bye.Sub(oks[0])
	t.Logf("callee's BYE %.1f s after its first 200 OK", after.Seconds())
	if after < 28*time.Second || after > 40*time.Second {
		t.Errorf("callee's BYE %s after its first 200 OK, want about 64*T1 = 32 s", after)
	}

	res := analyzePath(t, pcap)
	if len(res.Calls) != 1 {
		t.Fatalf("%d calls", len(res.Calls))
	}
	c := res.Calls[0]
	t.Logf("unacknowledged answer: %s (%s): %s; findings %v", c.Verdict, c.CannotHear, c.Explain, findingIDs(c))
	if !hasFinding(c, IDAnswerNotAcknowledged) {
		t.Errorf("no finding answer-never-acknowledged; findings %v", findingIDs(c))
	}
	recordLabFile(t, pcap, file)
}

// TestLabResponsesLost: the caller's host firewall drops every SIP
// response (a rule that lets out what it sends but nothing back from port
// 5060). baresip 200 at 192.168.1.10 behind a real nftables NAT calls
// baresip 100 on the internet, which rings: its 100 Trying and 180 Ringing
// reach the NAT and the phone's host drops them, so the phone resends its
// INVITE on Timer A until Timer B (RFC 3261 §17.1.1.2) and the callee
// resends its 180 on each copy. Captured at the callee, whose SIP service
// did its part: the capture must put the failed setup down to the
// responses' way back, not to the callee or to the INVITE.
func TestLabResponsesLost(t *testing.T) {
	natlab.Require(t)
	t.Parallel() // it waits on SIP timers
	lab := natlab.New(t)
	callee := lab.PublicHost("callee", "203.0.113.10")
	r1 := lab.Router("r1", natlab.RouterConfig{WAN: "203.0.113.1", LAN: "192.168.1.1/24",
		NAT: natlab.NATConfig{Mapping: natlab.EndpointIndependent}})
	phone := r1.LANHost("phone", "192.168.1.10")
	phone.Nft(t, `add table inet fw
add chain inet fw input { type filter hook input priority filter; }
add rule inet fw input udp sport 5060 drop`)
	pcap, dump := labTcpdump(t, callee)
	calleeDir := baresipConfig(t, "203.0.113.10:5060", "<sip:100@203.0.113.10>;regint=0", false)
	ringing := callee.Start(t, "baresip", "-f", calleeDir, "-t", "45")
	time.Sleep(500 * time.Millisecond)
	// The caller gives up at Timer B, 32 s after its INVITE.
	callerDir := baresipConfig(t, "192.168.1.10:5060", "<sip:200@192.168.1.10>;regint=0", false)
	calling := phone.Start(t, "baresip", "-f", callerDir, "-t", "36", "-e", "/dial sip:100@203.0.113.10")
	endLabCall(t, calling, 45*time.Second, ringing, dump)

	// The packets themselves must show the fault: the INVITE resent after
	// the callee's responses went out.
	var invites, responses int
	var firstResponse time.Time
	for _, m := range labSIPMessages(t, pcap) {
		switch {
		case m.method == "INVITE" && m.src.Addr() == r1.WAN():
			if !firstResponse.IsZero() {
				invites++
			}
		case m.status > 0 && m.cseqMethod == "INVITE" && m.dst.Addr() == r1.WAN():
			responses++
			if firstResponse.IsZero() {
				firstResponse = m.at
			}
		}
	}
	t.Logf("callee's responses to the INVITE: %d; INVITE copies after the first: %d", responses, invites)
	if responses == 0 || invites < 3 {
		t.Fatalf("want responses and the INVITE resent after them; got %d responses, %d copies after", responses, invites)
	}

	res := analyzePath(t, pcap)
	if len(res.Calls) != 1 {
		t.Fatalf("%d calls", len(res.Calls))
	}
	c := res.Calls[0]
	t.Logf("responses lost: %s: %s; findings %v", c.Verdict, c.Explain, findingIDs(c))
	f := findingByID(c.Findings, IDResponsesLost)
	if f == nil || f.Severity != report.SeverityError || !strings.HasPrefix(f.Remedy, "No response reached the party that sent the INVITE") {
		t.Errorf("want %s with its remedy; findings %v", IDResponsesLost, findingIDs(c))
	}
	if hasFinding(c, IDRequestUnanswered) || hasFinding(c, IDCalleeNeverRang) {
		t.Errorf("the callee answered the INVITE and rang: findings %v", findingIDs(c))
	}
	keepLabFile(t, pcap, "natlab-responses-lost.pcap")
}

// labSIPMessage is one SIP message over UDP in a lab capture.
type labSIPMessage struct {
	at       time.Time
	src, dst netip.AddrPort
	// method is a request's method; status a response's code.
	method     string
	status     int
	cseqMethod string
}

// labSIPMessages reads every SIP message over UDP in an Ethernet pcap,
// independently of the analyzer under test.
func labSIPMessages(t *testing.T, path string) []labSIPMessage {
	t.Helper()
	var out []labSIPMessage
	labUDP(t, path, func(at time.Time, src, dst netip.AddrPort, payload []byte) {
		lines := strings.Split(string(payload), "\r\n")
		first := strings.Fields(lines[0])
		if len(first) < 3 {
			return
		}
		m := labSIPMessage{at: at, src: src, dst: dst}
		switch {
		case first[0] == "SIP/2.0":
			m.status, _ = strconv.Atoi(first[1])
		case strings.HasPrefix(first[2], "SIP/2.0"):
			m.method = first[0]
		default:
			return
		}
		for _, l := range lines[1:] {
			name, value, ok := strings.Cut(l, ":")
			if ok && strings.EqualFold(strings.TrimSpace(name), "CSeq") {
				if f := strings.Fields(value); len(f) == 2 {
					m.cseqMethod = f[1]
				}
			}
		}
		out = append(out, m)
	})
	return out
}

// labUDP calls fn for every IPv4 UDP datagram in an Ethernet pcap, read
// independently of the analyzer under test.
func labUDP(t *testing.T, path string, fn func(at time.Time, src, dst netip.AddrPort, payload []byte)) {
	t.Helper()
	r := pcapReader(t, path)
	for {
		data, ci, err := r.ReadPacketData()
		if err != nil {
			return
		}
		p := gopacket.NewPacket(data, r.LinkType(), gopacket.NoCopy)
		ip, _ := p.Layer(layers.LayerTypeIPv4).(*layers.IPv4)
		udp, _ := p.Layer(layers.LayerTypeUDP).(*layers.UDP)
		if ip == nil || udp == nil {
			continue
		}
		src, _ := netip.AddrFromSlice(ip.SrcIP.To4())
		dst, _ := netip.AddrFromSlice(ip.DstIP.To4())
		fn(ci.Timestamp, netip.AddrPortFrom(src, uint16(udp.SrcPort)), netip.AddrPortFrom(dst, uint16(udp.DstPort)), udp.Payload)
	}
}

// TestLabMediaRemappedMidCall: a NAT that loses its mapping mid-call and
// gives the phone's media another public port, with real phones. baresip
// 100 at 192.168.1.10 behind a real nftables NAT learns its mapping with
// STUN, so the call to baresip 200 on the internet starts two-way. Five
// seconds into the media the router's rules are reloaded and its
// connection table flushed, as a WAN reconnect or a firewall reload does:
// the caller's RTP then leaves from a new public port, and the callee,
// unless it latches onto where media comes from, keeps sending to the old
// one, which the router no longer forwards. Captured at the callee.
func TestLabMediaRemappedMidCall(t *testing.T) {
	natlab.Require(t)
	const file = "natlab-media-remapped.pcap"
	lab := newSTUNCall(t)
	r1, callee := lab.r1, lab.callee
	pcap, dump := labTcpdump(t, callee)
	// -t counts from the start: about 1 s to the answer, 5 s of two-way
	// media, then about 8 s after the move before the caller hangs up.
	calling, answering, established := lab.dial(t, 22, 14)
	time.Sleep(5 * time.Second)

	// The move: r1 loses its mappings and gives the next packet another
	// port. Flushing conntrack alone is not enough: Linux masquerade keeps
	// the source port when it is free, and after a flush it is, so the
	// phone would get its old public port back. `masquerade random` picks
	// a random port for every new mapping; replacing the rule (one nft
	// transaction, which keeps the input chain above) and then flushing
	// the connection table gives the caller's next packet a new mapping on
	// another port, as a router that re-maps after a reconnect does.
	r1.Nft(t, "flush chain ip natlab postrouting\n"+
		"add rule ip natlab postrouting iifname \"brlan\" oifname \"wan0\" masquerade random")
	if out, err := r1.Run(context.Background(), "conntrack", "-F"); err != nil {
		t.Fatalf("conntrack -F in r1: %v: %s", err, out)
	}
	t.Logf("r1: masquerade random and conntrack flushed %.1f s after the answer", time.Since(established).Seconds())

	endLabCall(t, calling, 20*time.Second, answering, dump)
	keepLabFile(t, pcap, file)

	// The packets themselves, read without the analyzer: the caller's RTP
	// must arrive from two ports of r1's WAN address, one after the other.
	sdp := labCallerSDPAudio(t, pcap, r1.WAN())
	from, to := labRTPByPort(t, pcap, r1.WAN(), callee.Addr())
	var ports []uint16
	for p := range from {
		ports = append(ports, p)
	}
	slices.SortFunc(ports, func(a, b uint16) int { return from[a].first.Compare(from[b].first) })
	for _, p := range ports {
		s := from[p]
		t.Logf("caller RTP from %s:%d: %d packets %s – %s", r1.WAN(), p, s.packets, s.first.Format("15:04:05.000"), s.last.Format("15:04:05.000"))
	}
	for p, s := range to {
		t.Logf("callee RTP to %s:%d: %d packets %s – %s", r1.WAN(), p, s.packets, s.first.Format("15:04:05.000"), s.last.Format("15:04:05.000"))
	}
	t.Logf("caller's SDP names %s", sdp)
	if len(ports) != 2 {
		t.Fatalf("the caller's RTP arrived from %d source ports %v, want 2 (one before the move, one after)", len(ports), ports)
	}
	oldPort, newPort := ports[0], ports[1]
	before, after := from[oldPort], from[newPort]
	if !after.first.After(before.last) {
		t.Errorf("the caller's RTP from port %d began at %s, before its RTP from port %d ended at %s: not one after the other",
			newPort, after.first.Format("15:04:05.000"), oldPort, before.last.Format("15:04:05.000"))
	}
	if sdp.Port() != oldPort {
		// The callee's first RTP can reach r1 before the caller's leaves
		// (see TestLabCalls); the call is then one-way from the start,
		// not the scenario under test.
		t.Errorf("the caller's first RTP left from port %d, not the STUN mapping %s its SDP names: not two-way at first", oldPort, sdp)
	}
	stale, followed := to[oldPort], to[newPort]
	keptOld := stale.packets > 0 && stale.last.After(after.first.Add(time.Second)) && followed.packets == 0
	if keptOld {
		t.Logf("the callee kept sending to the old port %d (%d packets in all, the last %.1f s after the move) and never to the new port %d",
			oldPort, stale.packets, stale.last.Sub(after.first).Seconds(), newPort)
	} else if followed.packets > 0 {
		t.Logf("the callee followed the caller to the new port %d: %d packets from %s", newPort, followed.packets, followed.first.Format("15:04:05.000"))
	} else {
		t.Logf("the callee sent to neither port after the move")
	}

	c, remap := labCallFinding(t, pcap, "media remapped", IDMediaRemapped, "")
	switch {
	case keptOld && stale.last.Sub(after.first) >= 2*time.Second:
		// The caller heard nothing for the rest of the call: one-way.
		if remap.Severity != report.SeverityError || c.Verdict != report.VerdictOneWay || c.CannotHear != "caller" {
			t.Errorf("%s, verdict %s (%q); want error, one-way (caller): the callee kept sending to the old port only, %.1f s after the move",
				remap.Severity, c.Verdict, c.CannotHear, stale.last.Sub(after.first).Seconds())
		}
	case keptOld && remap.Severity != report.SeverityWarning:
		t.Errorf("severity %s, want %s: the callee kept sending to the old port only, for under 2 s", remap.Severity, report.SeverityWarning)
	case followed.packets > 0 && remap.Severity != report.SeverityInfo:
		t.Errorf("severity %s, want %s: the callee followed to the new port", remap.Severity, report.SeverityInfo)
	}
	if hasFinding(c, IDRTPSourceDiffers) {
		t.Errorf("the move's new port is reported again as %s", IDRTPSourceDiffers)
	}
	recordLabFile(t, pcap, file)
}

// labPortSpan is the RTP of one port in a lab capture.
type labPortSpan struct {
	packets     int
	first, last time.Time
}

// labRTPByPort reads the RTP between a (a NAT's public address) and b in an
// Ethernet pcap, independently of the analyzer under test: what a sent by
// source port, and what b sent by destination port. RTP is told by its
// version 2 and a payload type that is not RTCP's (200-204).
func labRTPByPort(t *testing.T, path string, a, b netip.Addr) (from, to map[uint16]labPortSpan) {
	t.Helper()
	from, to = map[uint16]labPortSpan{}, map[uint16]labPortSpan{}
	labUDP(t, path, func(at time.Time, src, dst netip.AddrPort, pl []byte) {
		if src.Port() == 5060 || dst.Port() == 5060 || len(pl) < 12 || pl[0]>>6 != 2 || (pl[1] >= 200 && pl[1] <= 204) {
			return
		}
		var m map[uint16]labPortSpan
		var port uint16
		switch {
		case src.Addr() == a && dst.Addr() == b:
			m, port = from, src.Port()
		case src.Addr() == b && dst.Addr() == a:
			m, port = to, dst.Port()
		default:
			return
		}
		s := m[port]
		if s.packets == 0 {
			s.first = at
		}
		s.packets++
		s.last = at
		m[port] = s
	})
	return from, to
}

// labCallerSDPAudio returns the audio address of the first INVITE's SDP
// sent from addr in an Ethernet pcap.
func labCallerSDPAudio(t *testing.T, path string, addr netip.Addr) netip.AddrPort {
	t.Helper()
	var audio netip.AddrPort
	labUDP(t, path, func(_ time.Time, src, _ netip.AddrPort, payload []byte) {
		if audio.IsValid() || src.Addr() != addr || !strings.HasPrefix(string(payload), "INVITE ") {
			return
		}
		var host string
		var port int
		for _, l := range strings.Split(string(payload), "\r\n") {
			if c, ok := strings.CutPrefix(l, "c=IN IP4 "); ok {
				host = strings.TrimSpace(c)
			}
			if m, ok := strings.CutPrefix(l, "m=audio "); ok {
				port, _ = strconv.Atoi(strings.Fields(m)[0])
			}
		}
		if a, err := netip.ParseAddr(host); err == nil && port > 0 {
			audio = netip.AddrPortFrom(a, uint16(port))
		}
	})
	if !audio.IsValid() {
		t.Fatalf("no INVITE with an audio SDP from %s in %s", addr, path)
	}
	return audio
}

// TestLabByeLostAtNAT: "the other side never hung up", with real phones.
// baresip 100 at 192.168.1.10 behind a real nftables NAT with the kernel's
// SIP ALG (which writes the router's public address into its Contact, Via
// and SDP) calls baresip 200 on the internet, which answers; the call is
// two-way. After its ACK the caller sends no SIP, so in a real NAT only the
// media keeps mappings alive, and a router with a short UDP timeout loses
// the SIP mapping mid-call while RTP flows. When the callee hangs up more
// than 30 s later, its BYE to the router's public address is dropped there:
// resent on Timer E for 64*T1 = 32 s (Timer F), never answered, and the
// caller stays in the call. Captured at the callee. The ALG leaves no
// private address in the capture, so natdoc states the caller's silence
// and not that a NAT is behind it: seen from outside, an ALG's phone looks
// like a public one.
func TestLabByeLostAtNAT(t *testing.T) {
	natlab.Require(t)
	const file = "natlab-bye-lost.pcap"
	lab := natlab.New(t)
	callee := lab.PublicHost("callee", "203.0.113.10")
	r1 := lab.Router("r1", natlab.RouterConfig{WAN: "203.0.113.1", LAN: "192.168.1.1/24",
		NAT: natlab.NATConfig{Mapping: natlab.EndpointIndependent, SIPALG: true}})
	// Like a home router, r1 drops unsolicited packets to itself from the
	// WAN (see TestLabMediaRemappedMidCall). Without this the BYE, once the
	// mapping is gone, would reach r1's own closed port 5060 and draw an
	// ICMP port unreachable, which ends the callee's transaction at once
	// instead of the silent loss a NAT's missing mapping is.
	dropUnsolicitedFromWAN(t, r1)
	phone := r1.LANHost("phone", "192.168.1.10")

	pcap, dump := labTcpdump(t, callee)
	// The callee hangs up when baresip's -t ends it, counted from its
	// start: the caller's ACK comes about 1 s in, so the caller has then
	// been silent in SIP for about 33 s, past natdoc's 30 s. baresip then
	// waits for its BYE transaction to end (Timer F) before it exits.
	calleeDir := baresipConfig(t, "203.0.113.10:5060", "<sip:200@203.0.113.10>;regint=0;answermode=auto", false)
	answering := callee.Start(t, "baresip", "-f", calleeDir, "-t", strconv.Itoa(byeLostHangupAfter))
	time.Sleep(500 * time.Millisecond)
	// No -t for the caller: it must stay in the call while the callee's
	// BYE is retransmitted (its own BYE on exit would open a new mapping
	// and let the callee's retransmissions through). It is stopped once
	// the capture ends.
	callerDir := baresipConfig(t, "192.168.1.10:5060", "<sip:100@192.168.1.10>;regint=0", false)
	calling := phone.Start(t, "baresip", "-f", callerDir, "-e", "/dial sip:200@203.0.113.10")
	calling.WaitLog(t, 8*time.Second, "Call established")
	established := time.Now()
	time.Sleep(3 * time.Second)

	// The SIP mapping goes away mid-call. Lowering r1's UDP timeouts
	// (net.netfilter.nf_conntrack_udp_timeout{,_stream}) would not do it
	// here: the kernel's SIP helper refreshes its flow's conntrack entry
	// to its own sip_timeout (3600 s, a global module parameter) on every
	// SIP packet, over the per-namespace UDP timeouts, so a Linux router
	// with the ALG keeps the mapping for an hour. A router whose NAT keeps
	// idle UDP mappings shorter drops it while only media flows; deleting
	// just that entry does the same, and leaves the RTP flows' entries
	// (which the helper opened as related flows) and the media untouched.
	ctx := context.Background()
	if out, err := r1.Run(ctx, "conntrack", "-L", "-p", "udp", "--orig-port-src", "5060"); err == nil {
		t.Logf("r1's SIP conntrack entry before:\n%s", strings.TrimSpace(string(out)))
	}
	out, err := r1.Run(ctx, "conntrack", "-D", "-p", "udp", "--orig-src", phone.Addr().String(), "--orig-port-src", "5060", "--orig-port-dst", "5060")
	if err != nil {
		t.Fatalf("conntrack -D in r1: %v: %s", err, out)
	}
	t.Logf("r1 lost the SIP mapping %.1f s after the answer: %s", time.Since(established).Seconds(), strings.TrimSpace(string(out)))
	if out, err := r1.Run(ctx, "conntrack", "-L", "-p", "udp"); err == nil {
		t.Logf("r1's UDP conntrack entries after:\n%s", strings.TrimSpace(string(out)))
	}

	// The callee exits when its BYE transaction times out, 32 s after
	// its hang-up.
	select {
	case <-answering.Done():
	case <-time.After(time.Duration(byeLostHangupAfter+40) * time.Second):
		t.Fatal("the callee did not finish")
	}
	t.Logf("callee exited %.1f s after the answer", time.Since(established).Seconds())
	time.Sleep(300 * time.Millisecond)
	dump.Stop()
	stillIn := !strings.Contains(calling.Log(), "session closed") && !strings.Contains(calling.Log(), "terminated")
	calling.Kill()
	t.Logf("caller still in the call when stopped: %v", stillIn)
	for _, l := range strings.Split(answering.Log(), "\n") {
		if i := strings.Index(l, "sip:"); i >= 0 && (strings.Contains(l, "session closed") || strings.Contains(l, "terminated")) {
			t.Logf("callee: %s", l[i:])
		}
	}
	keepLabFile(t, pcap, file)

	// The packets themselves: the callee's BYE to r1's public address,
	// resent and never answered, after a long SIP silence of the caller.
	byeTo := netip.AddrPortFrom(r1.WAN(), 5060)
	var byes []time.Time
	var callerLast time.Time
	answered := 0
	for _, m := range labSIPMessages(t, pcap) {
		switch {
		case m.method == "BYE" && m.src.Addr() == callee.Addr():
			if m.dst != byeTo {
				t.Errorf("the callee's BYE went to %s, not %s", m.dst, byeTo)
			}
			byes = append(byes, m.at)
		case m.status != 0 && m.cseqMethod == "BYE":
			answered++
		case m.src.Addr() == r1.WAN() && len(byes) == 0:
			callerLast = m.at
		}
	}
	if len(byes) == 0 {
		t.Fatal("no BYE from the callee in the capture")
	}
	t.Logf("callee's BYE to %s sent %d times over %.1f s, %d responses; the caller's last SIP %.1f s before the first",
		byeTo, len(byes), byes[len(byes)-1].Sub(byes[0]).Seconds(), answered, byes[0].Sub(callerLast).Seconds())
	if len(byes) < 5 {
		t.Errorf("the callee's BYE was sent %d times, want at least 5 (retransmitted while unanswered)", len(byes))
	}
	if answered > 0 {
		t.Errorf("the callee's BYE drew %d responses, want none (r1 should drop it)", answered)
	}
	if callerLast.IsZero() || byes[0].Sub(callerLast) <= 30*time.Second {
		t.Errorf("the caller's last SIP came %s before the callee's BYE, want over 30 s", byes[0].Sub(callerLast))
	}

	c, lost := labCallFinding(t, pcap, "BYE lost at NAT", IDRequestUnanswered, "")
	silent := false
	for _, e := range lost.Evidence {
		silent = silent || strings.Contains(e.Text, "had sent no SIP in this call for")
	}
	if lost.Severity != report.SeverityError {
		t.Errorf("severity %s, want %s", lost.Severity, report.SeverityError)
	}
	if !silent {
		t.Errorf("no evidence that the caller had been silent in SIP (\"had sent no SIP in this call for\")")
	}
	for _, e := range lost.Evidence {
		if strings.Contains(e.Text, "behind NAT") {
			t.Errorf("claims a NAT the capture does not show: %s", e.Text)
		}
	}
	if c.Verdict != report.VerdictTwoWay {
		t.Errorf("verdict %s (%q), want %s", c.Verdict, c.CannotHear, report.VerdictTwoWay)
	}
	recordLabFile(t, pcap, file)
}

// byeLostHangupAfter is when the callee of TestLabByeLostAtNAT hangs up,
// in seconds from its start (baresip -t).
const byeLostHangupAfter = 34

// labCallFinding analyses a lab capture that must hold one call and
// returns the call with its last finding id whose title contains about
// ("" for any), logging both; the test fails when there is none.
func labCallFinding(t *testing.T, pcap, name string, id report.FindingID, about string) (report.Call, *report.Finding) {
	t.Helper()
	res := analyzePath(t, pcap)
	if len(res.Calls) != 1 {
		t.Fatalf("%d calls", len(res.Calls))
	}
	c := res.Calls[0]
	t.Logf("%s: %s (%s): %s; findings %v", name, c.Verdict, c.CannotHear, c.Explain, findingIDs(c))
	var found *report.Finding
	for i := range c.Findings {
		if f := &c.Findings[i]; f.ID == id && strings.Contains(f.Title, about) {
			found = f
		}
	}
	if found == nil {
		t.Fatalf("no finding %s (%q); findings %v", id, about, findingIDs(c))
	}
	t.Logf("%s (%s): %s", found.ID, found.Severity, found.Title)
	for _, e := range found.Evidence {
		t.Logf("  evidence: %s", e.Text)
	}
	return c, found
}

// stunCall is a lab for a call that is two-way from the start: baresip
// 100 at 192.168.1.10 behind r1 (203.0.113.1, an endpoint-independent
// NAT that drops unsolicited packets from the WAN) learns its mapping from
// coturn and calls baresip 200 at 203.0.113.10.
type stunCall struct {
	r1            *natlab.Router
	phone, callee *natlab.Host
	account       string
}

func newSTUNCall(t *testing.T) stunCall {
	t.Helper()
	lab := natlab.New(t)
	c := stunCall{callee: lab.PublicHost("callee", "203.0.113.10")}
	c.r1 = lab.Router("r1", natlab.RouterConfig{WAN: "203.0.113.1", LAN: "192.168.1.1/24",
		NAT: natlab.NATConfig{Mapping: natlab.EndpointIndependent}})
	// Without this the callee's first RTP, when it reaches r1 before the
	// caller's first RTP leaves, is accepted for r1 itself and its
	// conntrack entry takes the STUN-mapped port: masquerade then gives
	// the caller's media another port and the call is one-way from the
	// start (the race TestLabCalls tolerates).
	dropUnsolicitedFromWAN(t, c.r1)
	c.phone = c.r1.LANHost("phone", "192.168.1.10")
	srv := natlab.StartCoturn(t, lab.PublicHost("stun", "198.51.100.10", "198.51.100.11"))
	c.account = fmt.Sprintf("<sip:100@192.168.1.10>;regint=0;medianat=stun;stunserver=stun:%s", srv.Primary)
	return c
}

// dial starts the callee, answering automatically and up calleeSecs, then
// the caller, dialling and up callerSecs (baresip -t), and returns once
// the caller has the call established.
func (c stunCall) dial(t *testing.T, calleeSecs, callerSecs int) (calling, answering *natlab.Proc, established time.Time) {
	t.Helper()
	calleeDir := baresipConfig(t, "203.0.113.10:5060", "<sip:200@203.0.113.10>;regint=0;answermode=auto", false)
	answering = c.callee.Start(t, "baresip", "-f", calleeDir, "-t", strconv.Itoa(calleeSecs))
	time.Sleep(500 * time.Millisecond)
	callerDir := baresipConfig(t, "192.168.1.10:5060", c.account, true)
	calling = c.phone.Start(t, "baresip", "-f", callerDir, "-t", strconv.Itoa(callerSecs), "-e", "/dial sip:200@203.0.113.10")
	calling.WaitLog(t, 8*time.Second, "Call established")
	return calling, answering, time.Now()
}

// dropUnsolicitedFromWAN makes r1 drop new packets from the WAN to itself,
// as home routers do: a packet no mapping forwards is lost silently, not
// answered with ICMP or taken for the router, and leaves no conntrack
// entry behind.
func dropUnsolicitedFromWAN(t *testing.T, r1 *natlab.Router) {
	t.Helper()
	r1.Nft(t, "add chain ip natlab wan_input { type filter hook input priority filter; policy accept; }\n"+
		"add rule ip natlab wan_input iifname \"wan0\" ct state new drop")
}

// TestLabMediaOutage: a path that drops a stream whole for seconds, then
// recovers, with real phones. baresip 100 at 192.168.1.10 behind a real
// nftables NAT learns its mapping with STUN, so the call to baresip 200 on
// the internet is two-way from the start. About 4 s into the media r1
// drops the callee's RTP on its way in for 3 s, as a link that goes down
// or a firewall rule that blocks a stream for a while does, and then lets
// it through again; the call goes on about 4 s more. Captured at the
// phone, where the outage shows as a gap the sequence numbers jump across.
func TestLabMediaOutage(t *testing.T) {
	natlab.Require(t)
	const file = "natlab-media-outage.pcap"
	lab := newSTUNCall(t)
	r1, callee, phone := lab.r1, lab.callee, lab.phone
	pcap, dump := labTcpdump(t, phone)
	// -t counts from the start: about 1 s to the answer, 4 s of media,
	// the 3 s outage, then about 4 s more before the caller hangs up.
	calling, answering, established := lab.dial(t, 20, 12)
	time.Sleep(4 * time.Second)

	restore := dropRTPInto(t, r1, callee.Addr())
	dropFrom := time.Now()
	t.Logf("r1 drops the callee's RTP %.1f s after the answer", dropFrom.Sub(established).Seconds())
	time.Sleep(3 * time.Second)
	restore()
	t.Logf("r1 lets it through again after %.1f s", time.Since(dropFrom).Seconds())

	endLabCall(t, calling, 20*time.Second, answering, dump)
	keepLabFile(t, pcap, file)

	// The packets themselves, read without the analyzer: the callee's RTP
	// reaching the phone, in arrival order.
	pkts := labRTPPackets(t, pcap, callee.Addr(), phone.Addr())
	if len(pkts) < 100 {
		t.Fatalf("%d RTP packets from the callee reached the phone, want hundreds", len(pkts))
	}
	ssrc := pkts[0].ssrc
	gap, worst := time.Duration(-1), 1
	var otherSkipped, rtcp int
	for i := 1; i < len(pkts); i++ {
		if pkts[i].ssrc != ssrc {
			t.Errorf("the callee's RTP changed SSRC from %08x to %08x at %s", ssrc, pkts[i].ssrc, pkts[i].at.Format("15:04:05.000"))
			continue
		}
		if d := pkts[i].at.Sub(pkts[i-1].at); d > gap {
			gap, worst = d, i
		}
	}
	for i := 1; i < len(pkts); i++ {
		if skip := int(pkts[i].seq - pkts[i-1].seq - 1); i != worst && skip > 0 && skip < 0x8000 {
			otherSkipped += skip
		}
	}
	before, after := pkts[worst-1], pkts[worst]
	skipped := int(after.seq - before.seq - 1)
	rtcpAll := labRTCPFrom(t, pcap, callee.Addr(), phone.Addr())
	for _, p := range rtcpAll {
		if p.After(before.at) && p.Before(after.at) {
			rtcp++
		}
	}
	t.Logf("callee RTP to %s: %d packets, SSRC %08x; longest gap %.3f s (%s – %s), sequence %d → %d: %d packets skipped; "+
		"%d skipped elsewhere; RTCP from the callee: %d packets, %d during the gap",
		phone.Addr(), len(pkts), ssrc, gap.Seconds(), before.at.Format("15:04:05.000"), after.at.Format("15:04:05.000"),
		before.seq, after.seq, skipped, otherSkipped, len(rtcpAll), rtcp)
	if gap < 2*time.Second || gap > 4500*time.Millisecond {
		t.Errorf("the callee's RTP stopped for %s, want about 3 s (2–4.5 s)", gap)
	}
	if skipped < 100 || skipped >= 0x8000 {
		t.Errorf("the sequence numbers skip %d packets across the gap, want at least 100", skipped)
	}

	c, outage := labCallFinding(t, pcap, "media outage", IDMediaOutage, "callee's audio")
	if c.Verdict != report.VerdictTwoWay {
		t.Errorf("verdict %s (%q), want %s", c.Verdict, c.CannotHear, report.VerdictTwoWay)
	}
	if outage.Severity != report.SeverityWarning {
		t.Errorf("severity %s, want %s", outage.Severity, report.SeverityWarning)
	}
	if f := report.MainFlow(c, "callee->caller"); f != nil && f.Quality != nil && f.Quality.Outage != nil {
		if o := f.Quality.Outage; o.Missing != uint64(skipped) {
			t.Errorf("natdoc's outage misses %d packets, the packets show %d", o.Missing, skipped)
		}
	}
	poor := false
	for _, f := range c.Findings {
		if f.ID == IDPoorAudioQuality && strings.Contains(f.Title, "from the callee") {
			poor = true
			t.Logf("%s: %s", f.ID, f.Title)
		}
	}
	switch {
	case poor && otherSkipped == 0:
		t.Errorf("%s for the callee's audio, whose only loss is the outage", IDPoorAudioQuality)
	case poor:
		t.Logf("the callee's RTP also lost %d packets outside the outage, which may explain %s", otherSkipped, IDPoorAudioQuality)
	}
	recordLabFile(t, pcap, file)
}

// labTcpdump starts tcpdump on h, writing its UDP to a pcap file of the
// test's own.
func labTcpdump(t *testing.T, h *natlab.Host) (pcap string, dump *natlab.Proc) {
	t.Helper()
	pcap = filepath.Join(t.TempDir(), "call.pcap")
	return pcap, h.StartTcpdump(t, pcap, "udp")
}

// dropRTPInto makes r1 drop the RTP from src into its LAN until the
// function it returns is called. A base chain of its own on the forward
// hook, ahead of natlab's filter_forward (priority filter - 1), drops it;
// deleting the chain ends it, with no rule handle to track. At the forward
// hook the reply is already translated back, so the destination port is
// the phone's own: baresip takes an even RTP port from its rtp_ports
// 10000-10010 and, without rtcp-mux, RTCP on the odd port above. Only the
// even ports are dropped: src's RTCP and its SIP (5060) go on, so the call
// itself stays up and only the audio stream vanishes, as when a stream's
// path fails. The conntrack entry is refreshed before the forward hook
// (and by the phone's RTP out), so the mapping outlives the drop.
func dropRTPInto(t *testing.T, r1 *natlab.Router, src netip.Addr) (restore func()) {
	t.Helper()
	r1.Nft(t, "add chain ip natlab rtpdrop { type filter hook forward priority filter - 1; policy accept; }\n"+
		fmt.Sprintf("add rule ip natlab rtpdrop iifname \"wan0\" ip saddr %s ip daddr %s udp dport 10000-10010 udp dport & 1 == 0 drop",
			src, r1.LANPrefix()))
	return func() { r1.Nft(t, "flush chain ip natlab rtpdrop\ndelete chain ip natlab rtpdrop") }
}

// TestLabMediaStoppedMidCall: a stream that a router begins dropping for
// good mid-call, with real phones: the "audio went dead" complaint. The
// lab of TestLabMediaOutage; about 4 s into the media r1 starts dropping
// the callee's RTP on its way to the phone (its RTCP and SIP get through)
// and does not stop; the caller hangs up about 10 s later. Captured at the
// phone: the callee's RTP stops arriving while the phone's own goes on,
// and the callee's RTCP goes on counting the packets it sends.
func TestLabMediaStoppedMidCall(t *testing.T) {
	natlab.Require(t)
	const file = "natlab-media-stopped.pcap"
	lab := newSTUNCall(t)
	r1, callee, phone := lab.r1, lab.callee, lab.phone
	pcap, dump := labTcpdump(t, phone)
	// -t counts from the start: about 1 s to the answer, 4 s of media,
	// then about 11 s with the callee's RTP dropped.
	calling, answering, established := lab.dial(t, 24, 16)
	time.Sleep(4 * time.Second)
	dropRTPInto(t, r1, callee.Addr())
	t.Logf("r1 drops the callee's RTP from %.1f s after the answer on", time.Since(established).Seconds())
	endLabCall(t, calling, 24*time.Second, answering, dump)
	keepLabFile(t, pcap, file)

	// The packets themselves, read without the analyzer.
	heard := labRTPPackets(t, pcap, callee.Addr(), phone.Addr())
	sent := labRTPPackets(t, pcap, phone.Addr(), callee.Addr())
	if len(heard) < 100 || len(sent) < 100 {
		t.Fatalf("RTP: %d packets from the callee reached the phone, the phone sent %d; want hundreds each", len(heard), len(sent))
	}
	stop, last := heard[len(heard)-1].at, sent[len(sent)-1].at
	var rtcpAfter int
	for _, at := range labRTCPFrom(t, pcap, callee.Addr(), phone.Addr()) {
		if at.After(stop) {
			rtcpAfter++
		}
	}
	t.Logf("the callee's RTP reached the phone until %s (%d packets), the phone's went on until %s, %.1f s later; "+
		"%d RTCP packets from the callee arrived after its RTP stopped", stop.Format("15:04:05.000"), len(heard),
		last.Format("15:04:05.000"), last.Sub(stop).Seconds(), rtcpAfter)
	if last.Sub(stop) < 8*time.Second {
		t.Fatalf("the phone's RTP went on %s after the callee's stopped, want about 11 s", last.Sub(stop))
	}

	c, stopped := labCallFinding(t, pcap, "media stopped", IDMediaStopped, "callee's RTP")
	if c.Verdict != report.VerdictOneWay || c.CannotHear != "caller" {
		t.Errorf("verdict %s (%q), want %s (caller)", c.Verdict, c.CannotHear, report.VerdictOneWay)
	}
	if stopped.Severity != report.SeverityError {
		t.Errorf("severity %s, want %s", stopped.Severity, report.SeverityError)
	}
	// The callee's RTCP reached the phone after its RTP stopped: its
	// sender reports count the packets that were lost.
	if rtcpAfter > 0 && !strings.Contains(stopped.Title, "lost on the way") {
		t.Errorf("the callee's RTCP after the stop is not read as proof that it went on sending: %s", stopped.Title)
	}
	recordLabFile(t, pcap, file)
}

// TestLabMediaStartedLate: audio that reaches the phone only seconds
// after the answer, with real phones: the "first words are lost"
// complaint. The lab of TestLabMediaOutage; r1 drops the callee's RTP on
// its way to the phone from before the call until 3 s after the answer.
// Captured at the phone: the callee's RTP arrives 3 s late while the
// phone's own goes out at once.
func TestLabMediaStartedLate(t *testing.T) {
	natlab.Require(t)
	const file = "natlab-media-started-late.pcap"
	lab := newSTUNCall(t)
	r1, callee, phone := lab.r1, lab.callee, lab.phone
	pcap, dump := labTcpdump(t, phone)
	restore := dropRTPInto(t, r1, callee.Addr())
	calling, answering, established := lab.dial(t, 16, 9)
	time.Sleep(3 * time.Second)
	restore()
	t.Logf("r1 let the callee's RTP through %.1f s after the answer", time.Since(established).Seconds())
	endLabCall(t, calling, 16*time.Second, answering, dump)
	keepLabFile(t, pcap, file)

	heard := labRTPPackets(t, pcap, callee.Addr(), phone.Addr())
	sent := labRTPPackets(t, pcap, phone.Addr(), callee.Addr())
	if len(heard) < 50 || len(sent) < 50 {
		t.Fatalf("RTP: %d packets from the callee reached the phone, the phone sent %d; want more", len(heard), len(sent))
	}
	late := heard[0].at.Sub(sent[0].at)
	t.Logf("the phone's first RTP left at %s, the callee's first reached it at %s, %.1f s later",
		sent[0].at.Format("15:04:05.000"), heard[0].at.Format("15:04:05.000"), late.Seconds())
	if late < 2500*time.Millisecond {
		t.Fatalf("the callee's RTP reached the phone %s after the phone's began, want about 3 s", late)
	}

	c, f := labCallFinding(t, pcap, "media started late", IDMediaStartedLate, "callee's RTP began")
	if c.Verdict != report.VerdictTwoWay || f.Severity != report.SeverityWarning {
		t.Errorf("verdict %s, %s %s; want %s, a warning", c.Verdict, f.ID, f.Severity, report.VerdictTwoWay)
	}
	recordLabFile(t, pcap, file)
}

// TestLabRefreshUnknownDialog: a session refresh the callee no longer
// knows, with real SIP user agents. sipp at 203.0.113.10 calls sipp at
// 203.0.113.20 and refreshes the session (a re-INVITE) a second later;
// the callee, scripted as one that lost the call (a restart, a failover),
// answers 481, and the caller hangs up. Captured at the caller: natdoc
// must name the 481 as the end of the call, not call it a normal one.
func TestLabRefreshUnknownDialog(t *testing.T) {
	natlab.Require(t)
	lab := natlab.New(t)
	caller, callee := lab.PublicHost("caller", "203.0.113.10"), lab.PublicHost("callee", "203.0.113.20")
	pcap, dump := labTcpdump(t, caller)
	scenario := func(name string) string {
		path, err := filepath.Abs(filepath.Join("testdata", "sipp", name))
		if err != nil {
			t.Fatal(err)
		}
		return path
	}
	uas := callee.Start(t, "sipp", "-sf", scenario("refresh-481-uas.xml"), "-i", "203.0.113.20", "-p", "5060", "-m", "1", "-nostdin")
	time.Sleep(300 * time.Millisecond)
	uac := caller.Start(t, "sipp", "-sf", scenario("refresh-481-uac.xml"), "203.0.113.20:5060", "-i", "203.0.113.10", "-p", "5060",
		"-m", "1", "-nostdin", "-timeout", "20s")
	if err := uac.Wait(); err != nil {
		t.Fatalf("sipp uac: %v\n%s", err, uac.Log())
	}
	uas.Stop()
	time.Sleep(300 * time.Millisecond)
	dump.Stop()

	c, f := labCallFinding(t, pcap, "refresh answered 481", IDDialogUnknown, "re-INVITE with 481")
	if f.Severity != report.SeverityError || !strings.HasPrefix(f.Title, "The callee answered the caller's re-INVITE") {
		t.Errorf("%s %s: %s", f.ID, f.Severity, f.Title)
	}
	if c.State != "ended" {
		t.Errorf("state %q, want ended (the caller's BYE)", c.State)
	}
	recordLabFile(t, pcap, "natlab-refresh-481.pcap")
}

// labRTPPacket is one RTP packet in a lab capture.
type labRTPPacket struct {
	at   time.Time
	seq  uint16
	ssrc uint32
}

// labRTPPackets reads the RTP from src to dst in an Ethernet pcap, in
// capture order, independently of the analyzer under test (RTP told as
// in labRTPByPort).
func labRTPPackets(t *testing.T, path string, src, dst netip.Addr) []labRTPPacket {
	t.Helper()
	var out []labRTPPacket
	labUDPPayloads(t, path, src, dst, func(at time.Time, pl []byte) {
		if len(pl) >= 12 && pl[0]>>6 == 2 && (pl[1] < 200 || pl[1] > 204) {
			out = append(out, labRTPPacket{at: at, seq: uint16(pl[2])<<8 | uint16(pl[3]),
				ssrc: uint32(pl[8])<<24 | uint32(pl[9])<<16 | uint32(pl[10])<<8 | uint32(pl[11])})
		}
	})
	return out
}

// labRTCPFrom returns when RTCP (version 2, packet type 200-204) from src
// to dst was captured.
func labRTCPFrom(t *testing.T, path string, src, dst netip.Addr) []time.Time {
	t.Helper()
	var out []time.Time
	labUDPPayloads(t, path, src, dst, func(at time.Time, pl []byte) {
		if len(pl) >= 8 && pl[0]>>6 == 2 && pl[1] >= 200 && pl[1] <= 204 {
			out = append(out, at)
		}
	})
	return out
}

// labUDPPayloads calls fn for every UDP payload from src to dst in an
// Ethernet pcap, SIP (port 5060) left out.
func labUDPPayloads(t *testing.T, path string, src, dst netip.Addr, fn func(at time.Time, payload []byte)) {
	t.Helper()
	labUDP(t, path, func(at time.Time, s, d netip.AddrPort, payload []byte) {
		if s.Addr() == src && d.Addr() == dst && s.Port() != 5060 && d.Port() != 5060 {
			fn(at, payload)
		}
	})
}
