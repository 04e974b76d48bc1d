//go:build linux

package capture

import (
	"fmt"
	"net"
	"net/netip"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/natdoc/natdoc/internal/g711"
	"github.com/natdoc/natdoc/internal/natlab"
	"github.com/natdoc/natdoc/report"
)

// TestLabEarlyMediaFiltered: a phone behind a Linux router (masquerade,
// which keeps a mapping for every destination but lets in only peers the
// phone has sent to) learns its public media address by STUN and names it
// in its INVITE. The far end answers 183 with SDP and sends two seconds of
// ringback to that address before the phone sends anything: the router
// refuses it (ICMP port unreachable), and its conntrack entry for the
// refused packets then takes the port pair, so when the phone's media
// begins after the 200 OK the router maps it to another port. The far end
// goes on sending to the address the SDP named: the caller hears nothing,
// all call long. The far end's capture shows it and says why; the phone's
// shows the one-way call.
func TestLabEarlyMediaFiltered(t *testing.T) {
	t.Parallel()
	lab := natlab.New(t)
	stun1 := natlab.StartCoturn(t, lab.PublicHost("stun1", "198.51.100.7"))
	far := lab.PublicHost("far", "203.0.113.10")
	r1 := lab.Router("r1", natlab.RouterConfig{WAN: "203.0.113.1", LAN: "192.168.1.1/24", NAT: natlab.NATConfig{Mapping: natlab.EndpointIndependent}})
	phone := r1.LANHost("phone", "192.168.1.10")
	dir := t.TempDir()
	lanPcap, farPcap := filepath.Join(dir, "phone.pcap"), filepath.Join(dir, "far.pcap")
	dump := phone.StartTcpdump(t, lanPcap, "udp")
	farDump := far.StartTcpdump(t, farPcap, "udp or icmp")

	media, err := phone.ListenUDP("udp4", "192.168.1.10:10000")
	if err != nil {
		t.Fatal(err)
	}
	defer media.Close()
	mapped := labBinding(t, media, stun1.Primary)
	farMedia := netip.MustParseAddrPort("203.0.113.10:30000")
	sip, farSIP, farRTP := labCallEnds(t, phone, far, farMedia)

	sdp := func(user string, at netip.AddrPort) string {
		return fmt.Sprintf("v=0\r\no=%s 1 1 IN IP4 %s\r\ns=-\r\nc=IN IP4 %s\r\nt=0 0\r\nm=audio %d RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\na=sendrecv\r\n",
			user, at.Addr(), at.Addr(), at.Port())
	}
	farAddr := net.UDPAddrFromAddrPort(netip.MustParseAddrPort("203.0.113.10:5060"))
	offer := sdp("100", mapped)
	invite := "INVITE sip:200@203.0.113.10 SIP/2.0\r\nVia: SIP/2.0/UDP 192.168.1.10:5060;branch=z9hG4bKem1;rport\r\nMax-Forwards: 70\r\n" +
		"From: <sip:100@natdoc.test>;tag=a1\r\nTo: <sip:200@natdoc.test>\r\nCall-ID: early-lab@natdoc.test\r\nCSeq: 1 INVITE\r\n" +
		"Contact: <sip:100@192.168.1.10:5060>\r\nContent-Type: application/sdp\r\nContent-Length: " + fmt.Sprint(len(offer)) + "\r\n\r\n" + offer
	if _, err := sip.WriteToUDP([]byte(invite), farAddr); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 4096)
	_ = farSIP.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, from, err := farSIP.ReadFromUDP(buf)
	if err != nil {
		t.Fatal(err)
	}
	answer := sdp("200", farMedia)
	resp := func(status string) string {
		return "SIP/2.0 " + status + "\r\nVia: SIP/2.0/UDP 192.168.1.10:5060;branch=z9hG4bKem1;rport=" + fmt.Sprint(from.Port) + ";received=" + from.IP.String() + "\r\n" +
			"From: <sip:100@natdoc.test>;tag=a1\r\nTo: <sip:200@natdoc.test>;tag=b1\r\nCall-ID: early-lab@natdoc.test\r\nCSeq: 1 INVITE\r\n" +
			"Contact: <sip:200@203.0.113.10:5060>\r\nContent-Type: application/sdp\r\nContent-Length: " + fmt.Sprint(len(answer)) + "\r\n\r\n" + answer
	}
	if _, err := farSIP.WriteToUDP([]byte(resp("183 Session Progress")), from); err != nil {
		t.Fatal(err)
	}
	tone := g711.ULawTone(160, 1000, 4000)
	heard := make(chan int, 1)
	go func() { heard <- countUDP(media, 1000, 3*time.Second) }()
	for i := range 100 { // ringback, 2 s
		if _, err := farRTP.WriteToUDP(toneRTP(uint16(i), uint32(i*160), 0x22222222, tone), net.UDPAddrFromAddrPort(mapped)); err != nil {
			t.Fatal(err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	early := <-heard
	if _, err := farSIP.WriteToUDP([]byte(resp("200 OK")), from); err != nil {
		t.Fatal(err)
	}
	ack := "ACK sip:200@203.0.113.10:5060 SIP/2.0\r\nVia: SIP/2.0/UDP 192.168.1.10:5060;branch=z9hG4bKem2;rport\r\nMax-Forwards: 70\r\n" +
		"From: <sip:100@natdoc.test>;tag=a1\r\nTo: <sip:200@natdoc.test>;tag=b1\r\nCall-ID: early-lab@natdoc.test\r\nCSeq: 1 ACK\r\nContent-Length: 0\r\n\r\n"
	if _, err := sip.WriteToUDP([]byte(ack), farAddr); err != nil {
		t.Fatal(err)
	}
	go func() { heard <- countUDP(media, 1000, 3*time.Second) }()
	for i := range 100 {
		_, _ = media.WriteToUDP(toneRTP(uint16(i), uint32(i*160), 0x11111111, tone), net.UDPAddrFromAddrPort(farMedia))
		_, _ = farRTP.WriteToUDP(toneRTP(uint16(100+i), uint32((100+i)*160), 0x22222222, tone), net.UDPAddrFromAddrPort(mapped))
		time.Sleep(20 * time.Millisecond)
	}
	after := <-heard
	labBye(t, sip, farSIP, "early-lab@natdoc.test")
	time.Sleep(200 * time.Millisecond)
	dump.Stop()
	farDump.Stop()
	if early != 0 || after != 0 {
		t.Fatalf("the phone heard %d early media packets and %d after the answer: the router let the far end in", early, after)
	}
	keepLabFile(t, lanPcap, "early-media-phone.pcap")
	keepLabFile(t, farPcap, "natlab-early-media-refused.pcap")
	for _, side := range []struct {
		pcap, why string
	}{{farPcap, "this media, early media before the answer, came "}, {lanPcap, ""}} {
		res := analyzePath(t, side.pcap)
		if len(res.Calls) != 1 || res.Calls[0].Verdict != report.VerdictOneWay || res.Calls[0].CannotHear != "caller" {
			t.Fatalf("%s: calls %+v, want one call the caller cannot hear", side.pcap, res.Calls)
		}
		f := findingByID(res.Calls[0].Findings, report.IDOneWayAudio)
		if side.why != "" && (f == nil || !strings.Contains(f.Evidence[0].Text, side.why) || !strings.Contains(f.Evidence[0].Text, "s before the caller sent any") || f.Remedy != remedyUnmappedPort) {
			t.Errorf("%s: finding %+v", side.pcap, f)
		}
	}
}

// labBye ends the call labSIPCall's sockets carry, callID, from the phone.
func labBye(t *testing.T, phone, far *net.UDPConn, callID string) {
	t.Helper()
	bye := "BYE sip:200@203.0.113.10:5060 SIP/2.0\r\nVia: SIP/2.0/UDP 192.168.1.10:5060;branch=z9hG4bKem3;rport\r\nMax-Forwards: 70\r\n" +
		"From: <sip:100@natdoc.test>;tag=a1\r\nTo: <sip:200@natdoc.test>;tag=b1\r\nCall-ID: " + callID + "\r\nCSeq: 2 BYE\r\nContent-Length: 0\r\n\r\n"
	_, _ = phone.WriteToUDP([]byte(bye), net.UDPAddrFromAddrPort(netip.MustParseAddrPort("203.0.113.10:5060")))
	buf := make([]byte, 4096)
	_ = far.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, from, err := far.ReadFromUDP(buf)
	if err != nil {
		t.Fatalf("the BYE did not arrive: %v", err)
	}
	ok := "SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 192.168.1.10:5060;branch=z9hG4bKem3;rport=" + fmt.Sprint(from.Port) + ";received=" + from.IP.String() + "\r\n" +
		"From: <sip:100@natdoc.test>;tag=a1\r\nTo: <sip:200@natdoc.test>;tag=b1\r\nCall-ID: " + callID + "\r\nCSeq: 2 BYE\r\nContent-Length: 0\r\n\r\n"
	_, _ = far.WriteToUDP([]byte(ok), from)
}
