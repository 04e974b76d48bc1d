//go:build linux

package capture

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/natdoc/natdoc/internal/natlab"
	"github.com/natdoc/natdoc/report"
)

// TestLabMediaOfferOtherFamily: a dual-stack PBX (203.0.113.20 and
// 2001:db8::20, hand-written SIP) calls a registered baresip phone that
// has IPv4 only, over IPv4, offering its media at its IPv6 address. The
// phone refuses the offer 488 Not Acceptable Here, although it takes the
// codec offered (PCMU). The finding says the offer named IPv6 media only
// to a host that speaks IPv4, not that the codecs differ, and gives the
// address family's remedy.
func TestLabMediaOfferOtherFamily(t *testing.T) {
	natlab.Require(t)
	t.Parallel()
	lab := natlab.New(t)
	pbx := lab.PublicHost("pbx", "203.0.113.20")
	for _, cmd := range [][]string{
		{"sysctl", "-w", "net.ipv6.conf.eth0.disable_ipv6=0"},
		{"ip", "-6", "addr", "add", "2001:db8::20/64", "dev", "eth0", "nodad"},
	} {
		if out, err := pbx.Run(context.Background(), cmd[0], cmd[1:]...); err != nil {
			t.Fatalf("%v: %s", err, out)
		}
	}
	sip := listenLab(t, pbx, "203.0.113.20:5060")
	pcap := filepath.Join(t.TempDir(), "pbx.pcap")
	dump := pbx.StartTcpdump(t, pcap, "udp or icmp")
	phone := natlab.StartBaresip(t, lab.PublicHost("phone", "203.0.113.11"), natlab.BaresipConfig{User: "200",
		Registrar: netip.MustParseAddrPort("203.0.113.20:5060"), AutoAnswer: true})

	contact, phoneSIP := answerRegister(t, sip)
	offer := "v=0\r\no=pbx 1 1 IN IP6 2001:db8::20\r\ns=-\r\nc=IN IP6 2001:db8::20\r\nt=0 0\r\nm=audio 30000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\na=sendrecv\r\n"
	headers := func(toTag, cseq string) string {
		return "Via: SIP/2.0/UDP 203.0.113.20:5060;branch=z9hG4bKfam1;rport\r\nMax-Forwards: 70\r\nFrom: <sip:100@natdoc.test>;tag=p1\r\n" +
			"To: <sip:200@natdoc.test>" + toTag + "\r\nCall-ID: family-1\r\nCSeq: " + cseq + "\r\n"
	}
	invite := "INVITE " + contact + " SIP/2.0\r\n" + headers("", "1 INVITE") + "Contact: <sip:100@203.0.113.20:5060>\r\n" +
		"Content-Type: application/sdp\r\nContent-Length: " + fmt.Sprint(len(offer)) + "\r\n\r\n" + offer
	sendLab(t, sip, invite, phoneSIP.String())
	final := readFinal(t, sip)
	tag := regexp.MustCompile(`(?m)^To:.*;tag=([^;\r]+)`).FindStringSubmatch(final)
	if !strings.HasPrefix(final, "SIP/2.0 488") || tag == nil {
		t.Fatalf("the phone answered %q, want 488", final)
	}
	sendLab(t, sip, "ACK "+contact+" SIP/2.0\r\n"+headers(";tag="+tag[1], "1 ACK")+"Content-Length: 0\r\n\r\n", phoneSIP.String())
	time.Sleep(300 * time.Millisecond)
	phone.Proc.Stop()
	dump.Stop()

	res := analyzePath(t, pcap)
	if len(res.Calls) != 1 {
		t.Fatalf("%d calls", len(res.Calls))
	}
	f := findingByID(res.Calls[0].Findings, IDMediaOfferRefused)
	want := "it names IPv6 media addresses only ([2001:db8::20]:30000), and 203.0.113.11, which refused it, speaks IPv4"
	if f == nil || f.Remedy != remedyAddressFamily || !strings.Contains(f.Title, want) {
		t.Errorf("finding %+v, want %q", f, want)
	}
	if res.Calls[0].Verdict != report.VerdictNotAnswered {
		t.Errorf("verdict %s", res.Calls[0].Verdict)
	}
	keepLabFile(t, pcap, "media-offer-other-family.pcap")
}

// answerRegister answers the first REGISTER on sip 200 OK, echoing its
// headers, and returns the Contact URI it registered and where it came
// from.
func answerRegister(t *testing.T, sip *net.UDPConn) (contact string, from *net.UDPAddr) {
	t.Helper()
	buf := make([]byte, 8192)
	_ = sip.SetReadDeadline(time.Now().Add(5 * time.Second))
	n, from, err := sip.ReadFromUDP(buf)
	if err != nil {
		t.Fatalf("no REGISTER: %v", err)
	}
	var ok strings.Builder
	ok.WriteString("SIP/2.0 200 OK\r\n")
	for _, line := range strings.Split(string(buf[:n]), "\r\n") {
		name, _, _ := strings.Cut(line, ":")
		switch strings.ToLower(strings.TrimSpace(name)) {
		case "via", "from", "call-id", "cseq":
			ok.WriteString(line + "\r\n")
		case "contact":
			ok.WriteString(line + "\r\n")
			if m := regexp.MustCompile(`<(sip:[^>;]+)`).FindStringSubmatch(line); m != nil {
				contact = m[1]
			}
		case "to":
			ok.WriteString(line + ";tag=reg1\r\n")
		}
	}
	ok.WriteString("Expires: 600\r\nContent-Length: 0\r\n\r\n")
	if _, err := sip.WriteToUDP([]byte(ok.String()), from); err != nil {
		t.Fatal(err)
	}
	if contact == "" {
		t.Fatalf("REGISTER without a Contact: %q", buf[:n])
	}
	return contact, from
}

// readFinal reads responses on sip until a final one, which it returns.
func readFinal(t *testing.T, sip *net.UDPConn) string {
	t.Helper()
	buf := make([]byte, 8192)
	for {
		_ = sip.SetReadDeadline(time.Now().Add(5 * time.Second))
		n, _, err := sip.ReadFromUDP(buf)
		if err != nil {
			t.Fatalf("no final response: %v", err)
		}
		if msg := string(buf[:n]); strings.HasPrefix(msg, "SIP/2.0 ") && !strings.HasPrefix(msg, "SIP/2.0 1") {
			return msg
		}
	}
}

// TestLabNAT64PhoneGivenIPv4Route: a phone on IPv6 alone (baresip bound to
// its IPv6 address) behind a real NAT64 (tayga) registers at and calls
// through Kamailio on IPv4 (reached at 2001:db8:64::203.0.113.20) a
// baresip phone on IPv4. Kamailio Record-Routes its IPv4 address and the
// callee's Contact is IPv4: the caller has no way to send its ACK, and
// the callee resends its answer. At the proxy (the caller's Via IPv6, its
// packets from the NAT64's IPv4 address) and at the phone, the
// unacknowledged answer names the IPv4 hop and the IPv6 caller, with the
// remedy to give IPv6 phones IPv6 addresses; at the proxy the Via names
// NAT64.
func TestLabNAT64PhoneGivenIPv4Route(t *testing.T) {
	natlab.Require(t)
	t.Parallel()
	lab, phoneHost, proxy, viaNAT64 := startNAT64Lab(t)
	dir := t.TempDir()
	proxyPcap, phonePcap := filepath.Join(dir, "proxy.pcap"), filepath.Join(dir, "phone.pcap")
	proxyDump := proxy.StartTcpdump(t, proxyPcap, "udp port 5060")
	phoneDump := phoneHost.StartTcpdump(t, phonePcap, "udp port 5060")
	callee := natlab.StartBaresip(t, lab.PublicHost("callee", "203.0.113.11"), natlab.BaresipConfig{User: "200",
		Registrar: netip.MustParseAddrPort("203.0.113.20:5060"), AutoAnswer: true, Seconds: 14})
	time.Sleep(2 * time.Second) // the REGISTER and its 200 OK
	caller := natlab.StartBaresip(t, phoneHost, natlab.BaresipConfig{User: "100", Listen: netip.MustParseAddr("2001:db8:1::10"),
		Registrar: viaNAT64, Dial: "sip:200@" + viaNAT64.String(), Seconds: 8})
	endLabCall(t, caller.Proc, 20*time.Second, callee.Proc, proxyDump, phoneDump)

	for _, p := range []string{proxyPcap, phonePcap} {
		res := analyzePath(t, p)
		name := filepath.Base(p)
		if len(res.Calls) != 1 {
			t.Fatalf("%s: %d calls", name, len(res.Calls))
		}
		c := res.Calls[0]
		f := findingByID(c.Findings, IDAnswerNotAcknowledged)
		want := "the caller's ACK must go to 203.0.113.20:5060, the first hop of its route set, the answer's Record-Route, an IPv4 address, " +
			"while its own SIP is IPv6 (its Via names 2001:db8:1::10)"
		if f == nil || f.Remedy != remedySIPAddressFamily || !strings.Contains(evidenceTexts(f), want) {
			t.Errorf("%s: finding %+v, want %q", name, f, want)
		}
		if name == "proxy.pcap" {
			if via := findingByID(c.Findings, IDViaSourceMismatch); via == nil || !strings.Contains(via.Title, "NAT64") {
				t.Errorf("proxy.pcap: Via finding %+v", via)
			}
		}
		keepLabFile(t, p, "nat64-"+name)
	}
}

// TestLabNAT64PhoneCalled: the phone on IPv6 alone behind NAT64 registers
// its IPv6 Contact at Kamailio on IPv4, which stores it as written (no
// fix_nated_register). Called, Kamailio cannot send the INVITE there and
// answers 478 Unresolvable destination. The registration and the call
// name the IPv6 Contact that came over IPv4, with the remedy to send to
// the NAT64's mapping.
func TestLabNAT64PhoneCalled(t *testing.T) {
	natlab.Require(t)
	t.Parallel()
	lab, phoneHost, proxy, viaNAT64 := startNAT64Lab(t)
	pcap := filepath.Join(t.TempDir(), "proxy.pcap")
	dump := proxy.StartTcpdump(t, pcap, "udp port 5060")
	phone := natlab.StartBaresip(t, phoneHost, natlab.BaresipConfig{User: "100", Listen: netip.MustParseAddr("2001:db8:1::10"),
		Registrar: viaNAT64, AutoAnswer: true, Seconds: 10})
	time.Sleep(2 * time.Second) // the REGISTER and its 200 OK
	caller := natlab.StartBaresip(t, lab.PublicHost("caller", "203.0.113.11"), natlab.BaresipConfig{User: "200",
		Registrar: netip.MustParseAddrPort("203.0.113.20:5060"), Dial: "sip:100@203.0.113.20", Seconds: 4})
	endLabCall(t, caller.Proc, 15*time.Second, phone.Proc, dump)

	res := analyzePath(t, pcap)
	reg := findingByID(res.Findings, IDRegisterContactNotFixed)
	if reg == nil || reg.Remedy != remedyContactFamily ||
		!strings.Contains(reg.Title, "stored the IPv6 Contact [2001:db8:1::10]:5060 of 100 as written, though its REGISTER came over IPv4 from 203.0.113.64:5060") {
		t.Errorf("registration finding %+v", reg)
	}
	if len(res.Calls) != 1 {
		t.Fatalf("%d calls", len(res.Calls))
	}
	call := findingByID(res.Calls[0].Findings, IDCallNotRouted)
	if call == nil || call.Remedy != remedyContactFamily || !strings.Contains(call.Title, "answered 478 Unresolvable destination") {
		t.Errorf("call finding %+v", call)
	}
	keepLabFile(t, pcap, "nat64-called-proxy.pcap")
}

// startNAT64Lab builds the NAT64 labs' network: a phone with IPv6 on the
// LAN of a NAT64 router (203.0.113.64) and Kamailio on IPv4 at
// 203.0.113.20, which the phone reaches at viaNAT64.
func startNAT64Lab(t *testing.T) (lab *natlab.Lab, phone, proxy *natlab.Host, viaNAT64 netip.AddrPort) {
	t.Helper()
	lab = natlab.New(t)
	r1 := lab.Router("nat64", natlab.RouterConfig{WAN: "203.0.113.64", LAN: "192.168.1.1/24", NAT: natlab.NATConfig{Mapping: natlab.EndpointIndependent}})
	r1.StartNAT64(t)
	phone = r1.LANHostIPv6("phone", "192.168.1.10", "2001:db8:1::10")
	proxy = lab.PublicHost("proxy", "203.0.113.20")
	startKamailio(t, proxy, "203.0.113.20", false, netip.AddrPort{})
	return lab, phone, proxy, netip.AddrPortFrom(natlab.NAT64Addr(netip.MustParseAddr("203.0.113.20")), 5060)
}
