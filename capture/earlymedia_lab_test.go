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

// TestLabFarMediaFirst: a phone behind a Linux router (masquerade, which
// keeps a mapping for every destination but lets in only peers the phone
// has sent to) learns its public media address by STUN and names it in
// its INVITE. The far end's media reaches the router before the phone's:
// two seconds of ringback after a 183 with SDP, or just its first packets
// right after the 200 OK while the phone starts 100 ms later. The router
// refuses them (ICMP port unreachable), and its conntrack entry for the
// refused packets then holds the port pair, so the phone's own media
// leaves from another port. The far end goes on sending to the address the
// SDP named: the caller hears nothing, all call long. The far end's
// capture shows it and says which came first; the phone's shows the
// one-way call.
func TestLabFarMediaFirst(t *testing.T) {
	for _, tc := range []struct {
		name     string
		ringback time.Duration // early media after a 183; 0: none
		keep     string
		early    string // how the far end's capture tells its media
	}{
		{"early media", 2 * time.Second, "natlab-early-media-refused.pcap", "this media, early media before the answer, reached the NAT first"},
		{"far end first", 0, "far-media-first.pcap", "this media reached the NAT first"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			labFarMediaFirst(t, tc.ringback, tc.keep, tc.early)
		})
	}
}

func labFarMediaFirst(t *testing.T, ringback time.Duration, keep, early string) {
	lab := natlab.New(t)
	stun1 := natlab.StartCoturn(t, lab.PublicHost("stun1", "198.51.100.7"))
	far := lab.PublicHost("far", "203.0.113.10")
	r1 := lab.Router("r1", natlab.RouterConfig{WAN: "203.0.113.1", LAN: "192.168.1.1/24", NAT: natlab.NATConfig{Mapping: natlab.EndpointIndependent}})
	phone := r1.LANHost("phone", "192.168.1.10")
	dir := t.TempDir()
	lanPcap, farPcap := filepath.Join(dir, "phone.pcap"), filepath.Join(dir, "far.pcap")
	dump := phone.StartTcpdump(t, lanPcap, "udp")
	farDump := far.StartTcpdump(t, farPcap, "udp or icmp")

	media := listenLab(t, phone, "192.168.1.10:10000")
	mapped := labBinding(t, media, stun1.Primary)
	farMedia := netip.MustParseAddrPort("203.0.113.10:30000")
	sip, farSIP, farRTP := labCallEnds(t, phone, far, farMedia)
	call := newLabDialog(t, sip, farSIP, "far-first@natdoc.test", mapped, farMedia)

	tone := g711.ULawTone(160, 1000, 4000)
	heard := make(chan int, 1)
	go func() { heard <- countUDP(media, 1000, ringback+3*time.Second) }()
	seq := uint16(0)
	farSends := func() {
		_, _ = farRTP.WriteToUDP(toneRTP(seq, uint32(seq)*160, 0x22222222, tone), net.UDPAddrFromAddrPort(mapped))
		seq++
	}
	if ringback > 0 {
		call.respond("183 Session Progress")
		for range ringback / (20 * time.Millisecond) {
			farSends()
			time.Sleep(20 * time.Millisecond)
		}
	}
	call.respond("200 OK")
	call.ack()
	for i := range 100 { // the phone's media begins 100 ms after the far end's
		if i >= 5 {
			_, _ = media.WriteToUDP(toneRTP(uint16(i), uint32(i*160), 0x11111111, tone), net.UDPAddrFromAddrPort(farMedia))
		}
		farSends()
		time.Sleep(20 * time.Millisecond)
	}
	if n := <-heard; n != 0 {
		t.Fatalf("the phone heard %d packets: the router let the far end in", n)
	}
	labBye(t, sip, farSIP, "far-first@natdoc.test")
	time.Sleep(200 * time.Millisecond)
	dump.Stop()
	farDump.Stop()
	keepLabFile(t, farPcap, keep)
	for _, side := range []struct{ pcap, why string }{{farPcap, early}, {lanPcap, ""}} {
		res := analyzePath(t, side.pcap)
		if len(res.Calls) != 1 || res.Calls[0].Verdict != report.VerdictOneWay || res.Calls[0].CannotHear != "caller" {
			t.Fatalf("%s: calls %+v, want one call the caller cannot hear", side.pcap, res.Calls)
		}
		f := findingByID(res.Calls[0].Findings, report.IDOneWayAudio)
		if side.why != "" && (f == nil || !strings.Contains(f.Evidence[0].Text, side.why) || f.Remedy != remedyUnmappedPort) {
			t.Errorf("%s: finding %+v", side.pcap, f)
		}
	}
}

// labDialog is one call's SIP between the phone's socket and the far
// end's, written by hand (labCallEnds' sockets).
type labDialog struct {
	t                  *testing.T
	phone, far         *net.UDPConn
	callID             string
	from               *net.UDPAddr // the INVITE's source as the far end saw it
	answerSDP, farAddr string
}

// newLabDialog sends the phone's INVITE, its SDP naming media, and reads
// it at the far end, whose SDP will name farMedia.
func newLabDialog(t *testing.T, phone, far *net.UDPConn, callID string, media, farMedia netip.AddrPort) *labDialog {
	t.Helper()
	sdp := func(user string, at netip.AddrPort) string { return labSDP(user, at.Addr().String(), int(at.Port())) }
	d := &labDialog{t: t, phone: phone, far: far, callID: callID, answerSDP: sdp("200", farMedia), farAddr: "203.0.113.10:5060"}
	offer := sdp("100", media)
	invite := "INVITE sip:200@203.0.113.10 SIP/2.0\r\nVia: SIP/2.0/UDP 192.168.1.10:5060;branch=z9hG4bKfar1;rport\r\nMax-Forwards: 70\r\n" +
		"From: <sip:100@natdoc.test>;tag=a1\r\nTo: <sip:200@natdoc.test>\r\nCall-ID: " + callID + "\r\nCSeq: 1 INVITE\r\n" +
		"Contact: <sip:100@192.168.1.10:5060>\r\nContent-Type: application/sdp\r\nContent-Length: " + fmt.Sprint(len(offer)) + "\r\n\r\n" + offer
	if _, err := phone.WriteToUDP([]byte(invite), net.UDPAddrFromAddrPort(netip.MustParseAddrPort(d.farAddr))); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 4096)
	_ = far.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, from, err := far.ReadFromUDP(buf)
	if err != nil {
		t.Fatalf("the INVITE did not arrive: %v", err)
	}
	d.from = from
	return d
}

// respond sends the far end's response with its SDP to the INVITE.
func (d *labDialog) respond(status string) {
	msg := "SIP/2.0 " + status + "\r\nVia: SIP/2.0/UDP 192.168.1.10:5060;branch=z9hG4bKfar1;rport=" + fmt.Sprint(d.from.Port) + ";received=" + d.from.IP.String() + "\r\n" +
		"From: <sip:100@natdoc.test>;tag=a1\r\nTo: <sip:200@natdoc.test>;tag=b1\r\nCall-ID: " + d.callID + "\r\nCSeq: 1 INVITE\r\n" +
		"Contact: <sip:200@203.0.113.10:5060>\r\nContent-Type: application/sdp\r\nContent-Length: " + fmt.Sprint(len(d.answerSDP)) + "\r\n\r\n" + d.answerSDP
	if _, err := d.far.WriteToUDP([]byte(msg), d.from); err != nil {
		d.t.Fatal(err)
	}
}

// ack sends the phone's ACK for the 200 OK.
func (d *labDialog) ack() {
	ack := "ACK sip:200@203.0.113.10:5060 SIP/2.0\r\nVia: SIP/2.0/UDP 192.168.1.10:5060;branch=z9hG4bKfar2;rport\r\nMax-Forwards: 70\r\n" +
		"From: <sip:100@natdoc.test>;tag=a1\r\nTo: <sip:200@natdoc.test>;tag=b1\r\nCall-ID: " + d.callID + "\r\nCSeq: 1 ACK\r\nContent-Length: 0\r\n\r\n"
	if _, err := d.phone.WriteToUDP([]byte(ack), net.UDPAddrFromAddrPort(netip.MustParseAddrPort(d.farAddr))); err != nil {
		d.t.Fatal(err)
	}
}

// labBye ends the call callID between labCallEnds' sockets from the phone
// (labSIPCall's, turn-lab@natdoc.test, or a labDialog's).
func labBye(t *testing.T, phone, far *net.UDPConn, callID string) {
	t.Helper()
	bye := "BYE sip:200@203.0.113.10:5060 SIP/2.0\r\nVia: SIP/2.0/UDP 192.168.1.10:5060;branch=z9hG4bKfar3;rport\r\nMax-Forwards: 70\r\n" +
		"From: <sip:100@natdoc.test>;tag=a1\r\nTo: <sip:200@natdoc.test>;tag=b1\r\nCall-ID: " + callID + "\r\nCSeq: 2 BYE\r\nContent-Length: 0\r\n\r\n"
	if _, err := phone.WriteToUDP([]byte(bye), net.UDPAddrFromAddrPort(netip.MustParseAddrPort("203.0.113.10:5060"))); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 4096)
	_ = far.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, from, err := far.ReadFromUDP(buf)
	if err != nil {
		t.Fatalf("the BYE did not arrive: %v", err)
	}
	ok := "SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 192.168.1.10:5060;branch=z9hG4bKfar3;rport=" + fmt.Sprint(from.Port) + ";received=" + from.IP.String() + "\r\n" +
		"From: <sip:100@natdoc.test>;tag=a1\r\nTo: <sip:200@natdoc.test>;tag=b1\r\nCall-ID: " + callID + "\r\nCSeq: 2 BYE\r\nContent-Length: 0\r\n\r\n"
	if _, err := far.WriteToUDP([]byte(ok), from); err != nil {
		t.Fatal(err)
	}
}
