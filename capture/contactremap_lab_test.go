//go:build linux

package capture

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/natdoc/natdoc/internal/natlab"
	"github.com/natdoc/natdoc/report"
)

// TestLabContactPortRemapped: a PBX at 192.168.1.5 behind a router whose
// NAT changes the source port (masquerade random, as a router does whose
// own SIP service holds 5060) knows its public address but not that port:
// it registers Contact 203.0.113.1:5060 at Kamailio, which stores it as
// written. A call to it goes to 5060, which the router answers port
// unreachable. Taken at the registrar, the registration and the
// unanswered INVITE name the port the REGISTER came from, with the remedy
// to send there.
func TestLabContactPortRemapped(t *testing.T) {
	natlab.Require(t)
	t.Parallel()
	l := startRemapLab(t, startShortTimerKamailio)
	pcap, dump, callerSIP := l.pcap, l.dump, l.callerSIP
	buf := make([]byte, 4096)
	// Kamailio resends the INVITE to the Contact until its timer (4 s
	// here) ends the transaction with 408.
	deadline := time.Now().Add(10 * time.Second)
	for final := false; !final; {
		_ = callerSIP.SetReadDeadline(deadline)
		n, _, err := callerSIP.ReadFromUDP(buf)
		if err != nil {
			t.Fatalf("no final answer to the caller: %v", err)
		}
		final = !strings.HasPrefix(string(buf[:n]), "SIP/2.0 1")
	}
	time.Sleep(200 * time.Millisecond)
	dump.Stop()
	keepLabFile(t, pcap, "contact-port-remapped.pcap")

	res := analyzePath(t, pcap)
	reg := findingByID(res.Findings, IDRegisterContactNotFixed)
	if reg == nil || reg.Remedy != remedyContactPortRemapped || !strings.Contains(reg.Title, "stored the Contact 203.0.113.1:5060 of pbx as written, though its REGISTER came from 203.0.113.1:") {
		t.Errorf("registration finding %+v", reg)
	}
	if len(res.Calls) != 1 {
		t.Fatalf("calls %+v", res.Calls)
	}
	f := findingByID(res.Calls[0].Findings, IDRequestUnanswered)
	if f == nil || f.Severity != report.SeverityError || f.Remedy != remedyContactPortRemapped ||
		!strings.Contains(f.Title, "Nothing answered the INVITE to 203.0.113.1:5060: it is the Contact pbx registered, but its REGISTER came from 203.0.113.1:") {
		t.Errorf("INVITE finding %+v", f)
	}
	if rem := res.Remedies; len(rem) == 0 || rem[0].ID != "send-to-the-registered-port" {
		t.Errorf("first remedy %+v", rem)
	}
}

// TestLabCallerContactPortRemapped: a PBX behind a NAT that changes the
// source port (masquerade random) calls a public phone directly, with its
// public address and its own port in its Contact (203.0.113.1:5060). The
// call is set up over the NAT's mapping; the phone's BYE goes to the
// Contact, which the router refuses. Taken at the phone, the lost BYE
// names the port the caller's SIP came from, with the remedy to send
// there.
func TestLabCallerContactPortRemapped(t *testing.T) {
	natlab.Require(t)
	t.Parallel()
	lab := natlab.New(t)
	phone := lab.PublicHost("phone", "198.51.100.20")
	r1 := lab.Router("r1", natlab.RouterConfig{WAN: "203.0.113.1", LAN: "192.168.1.1/24", NAT: natlab.NATConfig{Mapping: natlab.AddressAndPortDependent}})
	pbx := r1.LANHost("pbx", "192.168.1.5")
	pcap := filepath.Join(t.TempDir(), "phone.pcap")
	dump := phone.StartTcpdump(t, pcap, "udp or icmp")
	pbxSIP := listenLab(t, pbx, "192.168.1.5:5060")
	phoneSIP := listenLab(t, phone, "198.51.100.20:5060")
	offer := labSDP("100", "203.0.113.1", 10000)
	hdr := "From: <sip:100@203.0.113.1>;tag=a1\r\nTo: <sip:200@198.51.100.20>%s\r\nCall-ID: caller-remap@natdoc.test\r\n"
	invite := "INVITE sip:200@198.51.100.20 SIP/2.0\r\nVia: SIP/2.0/UDP 203.0.113.1:5060;branch=z9hG4bKci1;rport\r\nMax-Forwards: 70\r\n" +
		fmt.Sprintf(hdr, "") + "CSeq: 1 INVITE\r\nContact: <sip:100@203.0.113.1:5060>\r\nContent-Type: application/sdp\r\nContent-Length: " + fmt.Sprint(len(offer)) + "\r\n\r\n" + offer
	sendLab(t, pbxSIP, invite, "198.51.100.20:5060")
	buf := make([]byte, 4096)
	_ = phoneSIP.SetReadDeadline(time.Now().Add(3 * time.Second))
	_, from, err := phoneSIP.ReadFromUDP(buf)
	if err != nil {
		t.Fatal(err)
	}
	answer := labSDP("200", "198.51.100.20", 40000)
	ok := "SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 203.0.113.1:5060;branch=z9hG4bKci1;rport=" + fmt.Sprint(from.Port) + ";received=203.0.113.1\r\n" +
		fmt.Sprintf(hdr, ";tag=b1") + "CSeq: 1 INVITE\r\nContact: <sip:200@198.51.100.20:5060>\r\nContent-Type: application/sdp\r\nContent-Length: " + fmt.Sprint(len(answer)) + "\r\n\r\n" + answer
	if _, err := phoneSIP.WriteToUDP([]byte(ok), from); err != nil {
		t.Fatal(err)
	}
	_ = pbxSIP.SetReadDeadline(time.Now().Add(3 * time.Second))
	if n, _, err := pbxSIP.ReadFromUDP(buf); err != nil || !strings.HasPrefix(string(buf[:n]), "SIP/2.0 200") {
		t.Fatal(err)
	}
	ack := "ACK sip:200@198.51.100.20:5060 SIP/2.0\r\nVia: SIP/2.0/UDP 203.0.113.1:5060;branch=z9hG4bKci2;rport\r\nMax-Forwards: 70\r\n" + fmt.Sprintf(hdr, ";tag=b1") + "CSeq: 1 ACK\r\nContent-Length: 0\r\n\r\n"
	sendLab(t, pbxSIP, ack, "198.51.100.20:5060")
	time.Sleep(time.Second)
	bye := "BYE sip:100@203.0.113.1:5060 SIP/2.0\r\nVia: SIP/2.0/UDP 198.51.100.20:5060;branch=z9hG4bKcb1;rport\r\nMax-Forwards: 70\r\n" +
		"From: <sip:200@198.51.100.20>;tag=b1\r\nTo: <sip:100@203.0.113.1>;tag=a1\r\nCall-ID: caller-remap@natdoc.test\r\nCSeq: 1 BYE\r\nContent-Length: 0\r\n\r\n"
	for _, wait := range []time.Duration{500 * time.Millisecond, time.Second, 100 * time.Millisecond} {
		sendLab(t, phoneSIP, bye, "203.0.113.1:5060")
		time.Sleep(wait)
	}
	dump.Stop()
	keepLabFile(t, pcap, "caller-contact-port-remapped.pcap")

	res := analyzePath(t, pcap)
	if len(res.Calls) != 1 {
		t.Fatalf("calls %+v", res.Calls)
	}
	f := findingByID(res.Calls[0].Findings, IDRequestUnanswered)
	if f == nil || f.Remedy != remedyContactPortMoved || f.Severity != report.SeverityError ||
		!strings.Contains(f.Title, "it went to the caller's Contact, but the caller's SIP came from 203.0.113.1:") {
		t.Errorf("BYE finding %+v", f)
	}
}

// TestLabCalleeContactPortMapped: the PBX behind the port-changing NAT
// registers at a Kamailio that handles NAT (fix_nated_register), so calls
// reach it at the mapping its REGISTER came from; its 200 OK's Contact
// names its public address with its own port. Kamailio passes the
// caller's ACK on to that Contact, which the router refuses, and the PBX
// resends its answer. Taken at the proxy, the one finding is the leg
// nearer the PBX's: the ACK's destination against the mapping the INVITE
// reached, with the remedy to send there.
func TestLabCalleeContactPortMapped(t *testing.T) {
	natlab.Require(t)
	t.Parallel()
	l := startRemapLab(t, func(t *testing.T, h *natlab.Host, addr string) { startNATKamailio(t, h, addr, natKamailio{}) })
	pcap, dump, pbxSIP, callerSIP := l.pcap, l.dump, l.pbxSIP, l.callerSIP
	buf := make([]byte, 4096)
	_ = pbxSIP.SetReadDeadline(time.Now().Add(3 * time.Second))
	n, from, err := pbxSIP.ReadFromUDP(buf)
	if err != nil {
		t.Fatalf("INVITE did not reach the PBX: %v", err)
	}
	inv := string(buf[:n])
	var vias, rr []string
	for _, l := range strings.Split(inv, "\r\n") {
		switch {
		case strings.HasPrefix(l, "Via:"):
			vias = append(vias, l)
		case strings.HasPrefix(l, "Record-Route:"):
			rr = append(rr, l)
		}
	}
	answer := labSDP("pbx", "203.0.113.1", 10000)
	ok := "SIP/2.0 200 OK\r\n" + strings.Join(vias, "\r\n") + "\r\n" + strings.Join(rr, "\r\n") + "\r\n" +
		"From: <sip:100@natdoc.test>;tag=a1\r\nTo: <sip:pbx@203.0.113.20>;tag=p1\r\nCall-ID: remap-call@natdoc.test\r\nCSeq: 1 INVITE\r\n" +
		"Contact: <sip:pbx@203.0.113.1:5060>\r\nContent-Type: application/sdp\r\nContent-Length: " + fmt.Sprint(len(answer)) + "\r\n\r\n" + answer
	for _, wait := range []time.Duration{500 * time.Millisecond, time.Second, 2 * time.Second} {
		if _, err := pbxSIP.WriteToUDP([]byte(ok), from); err != nil {
			t.Fatal(err)
		}
		// the caller ACKs every 200 it gets
		_ = callerSIP.SetReadDeadline(time.Now().Add(wait))
		for {
			n, _, err := callerSIP.ReadFromUDP(buf)
			if err != nil {
				break
			}
			if strings.HasPrefix(string(buf[:n]), "SIP/2.0 200") {
				ack := "ACK sip:pbx@203.0.113.1:5060 SIP/2.0\r\nVia: SIP/2.0/UDP 198.51.100.20:5060;branch=z9hG4bKra1;rport\r\nRoute: <sip:203.0.113.20;lr=on>\r\nMax-Forwards: 70\r\n" +
					"From: <sip:100@natdoc.test>;tag=a1\r\nTo: <sip:pbx@203.0.113.20>;tag=p1\r\nCall-ID: remap-call@natdoc.test\r\nCSeq: 1 ACK\r\nContent-Length: 0\r\n\r\n"
				sendLab(t, callerSIP, ack, "203.0.113.20:5060")
			}
		}
	}
	time.Sleep(200 * time.Millisecond)
	dump.Stop()
	keepLabFile(t, pcap, "callee-contact-port-mapped.pcap")

	res := analyzePath(t, pcap)
	if len(res.Calls) != 1 {
		t.Fatalf("calls %+v", res.Calls)
	}
	var unacked []report.Finding
	for _, f := range res.Calls[0].Findings {
		if f.ID == IDAnswerNotAcknowledged {
			unacked = append(unacked, f)
		}
	}
	want := "the NAT mapping its REGISTER came from: the callee wrote its own port, 5060, which its NAT does not map to it"
	if len(unacked) != 1 || unacked[0].Remedy != remedyContactPortMoved || !strings.Contains(evidenceTexts(&unacked[0]), want) ||
		!strings.Contains(evidenceTexts(&unacked[0]), "ACK sent to 203.0.113.1:5060, not to 203.0.113.1:") {
		t.Errorf("unacknowledged answer: %+v, want one naming %q", unacked, want)
	}
}

// remapLab is the PBX behind a port-changing NAT (masquerade random) at
// 192.168.1.5, registered at a Kamailio at 203.0.113.20 with its public
// address and its own port (Contact 203.0.113.1:5060), and a caller at
// 198.51.100.20 whose INVITE to it is on its way; tcpdump runs at the
// registrar.
type remapLab struct {
	pcap              string
	dump              *natlab.Proc
	pbxSIP, callerSIP *net.UDPConn
}

// startRemapLab builds the remapLab with the Kamailio start runs.
func startRemapLab(t *testing.T, start func(t *testing.T, h *natlab.Host, addr string)) *remapLab {
	t.Helper()
	lab := natlab.New(t)
	registrar := lab.PublicHost("registrar", "203.0.113.20")
	start(t, registrar, "203.0.113.20")
	caller := lab.PublicHost("caller", "198.51.100.20")
	r1 := lab.Router("r1", natlab.RouterConfig{WAN: "203.0.113.1", LAN: "192.168.1.1/24", NAT: natlab.NATConfig{Mapping: natlab.AddressAndPortDependent}})
	pbx := r1.LANHost("pbx", "192.168.1.5")
	l := &remapLab{pcap: filepath.Join(t.TempDir(), "registrar.pcap")}
	l.dump = registrar.StartTcpdump(t, l.pcap, "udp or icmp")
	l.pbxSIP, l.callerSIP = listenLab(t, pbx, "192.168.1.5:5060"), listenLab(t, caller, "198.51.100.20:5060")

	register := "REGISTER sip:203.0.113.20 SIP/2.0\r\nVia: SIP/2.0/UDP 203.0.113.1:5060;branch=z9hG4bKrr1;rport\r\nMax-Forwards: 70\r\n" +
		"From: <sip:pbx@203.0.113.20>;tag=r1\r\nTo: <sip:pbx@203.0.113.20>\r\nCall-ID: remap-reg@natdoc.test\r\nCSeq: 1 REGISTER\r\n" +
		"Contact: <sip:pbx@203.0.113.1:5060>\r\nExpires: 300\r\nContent-Length: 0\r\n\r\n"
	sendLab(t, l.pbxSIP, register, "203.0.113.20:5060")
	buf := make([]byte, 4096)
	_ = l.pbxSIP.SetReadDeadline(time.Now().Add(3 * time.Second))
	if n, _, err := l.pbxSIP.ReadFromUDP(buf); err != nil || !strings.HasPrefix(string(buf[:n]), "SIP/2.0 200") {
		t.Fatalf("REGISTER not accepted: %q %v", buf[:n], err)
	}
	offer := labSDP("100", "198.51.100.20", 40000)
	invite := "INVITE sip:pbx@203.0.113.20 SIP/2.0\r\nVia: SIP/2.0/UDP 198.51.100.20:5060;branch=z9hG4bKri1;rport\r\nMax-Forwards: 70\r\n" +
		"From: <sip:100@natdoc.test>;tag=a1\r\nTo: <sip:pbx@203.0.113.20>\r\nCall-ID: remap-call@natdoc.test\r\nCSeq: 1 INVITE\r\n" +
		"Contact: <sip:100@198.51.100.20:5060>\r\nContent-Type: application/sdp\r\nContent-Length: " + fmt.Sprint(len(offer)) + "\r\n\r\n" + offer
	sendLab(t, l.callerSIP, invite, "203.0.113.20:5060")
	return l
}

// startShortTimerKamailio runs the lab's plain Kamailio (no NAT handling:
// it stores a Contact as written) with a 4 s transaction timer, so that an
// INVITE nobody answers ends in seconds.
func startShortTimerKamailio(t *testing.T, h *natlab.Host, addr string) {
	t.Helper()
	dir := t.TempDir()
	cfg := filepath.Join(dir, "kamailio.cfg")
	conf := strings.Replace(kamailioConfig(false, ""), "modparam(\"usrloc\", \"db_mode\", 0)\n",
		"modparam(\"usrloc\", \"db_mode\", 0)\nmodparam(\"tm\", \"fr_timer\", 4000)\n", 1)
	if err := os.WriteFile(cfg, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	runKamailio(t, h, addr, dir, cfg)
}
