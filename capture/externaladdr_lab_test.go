//go:build linux

package capture

import (
	"context"
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

// TestLabMediaFromSecondWAN: a router with two public addresses sends the
// phone's SIP out of 203.0.113.1 and its RTP out of 203.0.113.2 (a router
// with two internet links, load balancing, or a NAT pool that does not
// keep one address per host). The phone names 203.0.113.1:10000 in its
// SDP, as its SIP's public address; the far end's media sent there finds
// no mapping, refused or silently dropped, and the phone hears nothing.
// Captured at the far end, the call is one-way with the remedy to send
// media to where it comes from or keep the phone on one address; before,
// the silently dropped media was judged delivered (two-way).
func TestLabMediaFromSecondWAN(t *testing.T) {
	for _, tc := range []struct {
		name      string
		dropInput bool
	}{{"refused", false}, {"dropped", true}} {
		t.Run(tc.name, func(t *testing.T) {
			natlab.Require(t)
			t.Parallel()
			labMediaFromSecondWAN(t, tc.dropInput)
		})
	}
}

// TestLabStaleExternalAddress: a phone behind a router names an external
// address set by hand that is no longer its NAT's (198.51.100.99, as after
// its line's address changed) in its SDP; its SIP and RTP come from the
// router's 203.0.113.1. The far end's media goes to the stale address and
// the phone hears nothing. Captured at the far end, the call is one-way
// with the remedy to correct the external address; it was judged two-way.
func TestLabStaleExternalAddress(t *testing.T) {
	natlab.Require(t)
	t.Parallel()
	lab := natlab.New(t)
	far := lab.PublicHost("far", "203.0.113.10")
	r1 := lab.Router("r1", natlab.RouterConfig{WAN: "203.0.113.1", LAN: "192.168.1.1/24", NAT: natlab.NATConfig{Mapping: natlab.EndpointIndependent}})
	phone := r1.LANHost("phone", "192.168.1.10")
	farPcap := filepath.Join(t.TempDir(), "far.pcap")
	farDump := far.StartTcpdump(t, farPcap, "udp or icmp")
	stale := netip.MustParseAddrPort("198.51.100.99:10000")
	if n := labCallHeard(t, phone, far, "stale-address@natdoc.test", stale); n != 0 {
		t.Fatalf("the phone heard %d packets sent to its stale address", n)
	}
	farDump.Stop()
	keepLabFile(t, farPcap, "stale-external-address.pcap")
	res := analyzePath(t, farPcap)
	if len(res.Calls) != 1 || res.Calls[0].Verdict != report.VerdictOneWay || res.Calls[0].CannotHear != "caller" {
		t.Fatalf("calls %+v", res.Calls)
	}
	f := findingByID(res.Calls[0].Findings, report.IDOneWayAudio)
	want := "the address it names is not its NAT's"
	if f == nil || f.Remedy != remedyStaleExternalAddress || !strings.Contains(evidenceTexts(f), want) {
		t.Errorf("finding %+v, want %q", f, want)
	}
}

// TestLabStaleExternalContact: a PBX behind a router that forwards UDP
// 5060 and its RTP range to it answers a public phone's call naming an
// external address set by hand that is no longer its router's
// (203.0.113.99) in its Contact and SDP. The phone's ACK and RTP go there
// and never reach the PBX, which resends its answer. Captured at the
// phone, the call is one-way (the PBX cannot hear), and the unacknowledged
// answer and the phone's lost BYE name the address, all with the remedy to
// correct it; the media was judged delivered (two-way) before.
func TestLabStaleExternalContact(t *testing.T) {
	natlab.Require(t)
	t.Parallel()
	lab := natlab.New(t)
	phone := lab.PublicHost("phone", "198.51.100.20")
	r1 := lab.Router("r1", natlab.RouterConfig{WAN: "203.0.113.1", LAN: "192.168.1.1/24", NAT: natlab.NATConfig{
		Mapping:  natlab.EndpointIndependent,
		Forwards: []natlab.Forward{{Proto: "udp", Ports: "5060", To: "192.168.1.5"}, {Proto: "udp", Ports: "10000-10100", To: "192.168.1.5"}},
	}})
	pbx := r1.LANHost("pbx", "192.168.1.5")
	phonePcap := filepath.Join(t.TempDir(), "phone.pcap")
	phoneDump := phone.StartTcpdump(t, phonePcap, "udp or icmp")
	phoneSIP := listenLab(t, phone, "198.51.100.20:5060")
	phoneRTP := listenLab(t, phone, "198.51.100.20:40000")
	pbxSIP := listenLab(t, pbx, "192.168.1.5:5060")
	pbxRTP := listenLab(t, pbx, "192.168.1.5:10000")
	d := invitePBX(t, phoneSIP, pbxSIP, "stale-contact@natdoc.test", "203.0.113.1:5060")
	ok, ack, from := d.answer("203.0.113.99:5060", "203.0.113.99"), d.ack("203.0.113.99:5060"), d.from
	buf := make([]byte, 4096)
	tone := g711.ULawTone(160, 1000, 4000)
	heard := make(chan int, 1)
	go func() { heard <- countUDP(pbxRTP, 1000, 4*time.Second) }()
	seq := 0
	for _, wait := range []time.Duration{500 * time.Millisecond, time.Second, 2 * time.Second} {
		if _, err := pbxSIP.WriteToUDP([]byte(ok), from); err != nil {
			t.Fatal(err)
		}
		sendLab(t, phoneSIP, ack, "203.0.113.99:5060")
		for end := time.Now().Add(wait); time.Now().Before(end); seq++ {
			_, _ = pbxRTP.WriteToUDP(toneRTP(uint16(seq), uint32(seq*160), 0x11111111, tone), net.UDPAddrFromAddrPort(netip.MustParseAddrPort("198.51.100.20:40000")))
			_, _ = phoneRTP.WriteToUDP(toneRTP(uint16(seq), uint32(seq*160), 0x22222222, tone), net.UDPAddrFromAddrPort(netip.MustParseAddrPort("203.0.113.99:10000")))
			time.Sleep(20 * time.Millisecond)
		}
	}
	if n := <-heard; n != 0 {
		t.Fatalf("the PBX heard %d packets sent to its stale address", n)
	}
	// The phone hangs up: its BYE goes to the Contact too.
	bye := d.bye("203.0.113.99:5060")
	for _, wait := range []time.Duration{500 * time.Millisecond, time.Second, 100 * time.Millisecond} {
		sendLab(t, phoneSIP, bye, "203.0.113.99:5060")
		time.Sleep(wait)
	}
	_ = pbxSIP.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
	if _, _, err := pbxSIP.ReadFromUDP(buf); err == nil {
		t.Fatal("an ACK reached the PBX")
	}
	phoneDump.Stop()
	keepLabFile(t, phonePcap, "stale-external-contact.pcap")

	res := analyzePath(t, phonePcap)
	if len(res.Calls) != 1 || res.Calls[0].Verdict != report.VerdictOneWay || res.Calls[0].CannotHear != "callee" {
		t.Fatalf("calls %+v", res.Calls)
	}
	for _, id := range []report.FindingID{report.IDOneWayAudio, IDAnswerNotAcknowledged, IDRequestUnanswered} {
		if f := findingByID(res.Calls[0].Findings, id); f == nil || f.Remedy != remedyStaleExternalAddress || !strings.Contains(evidenceTexts(f), "203.0.113.99") {
			t.Errorf("%s: %+v", id, f)
		}
	}
}

// labCallHeard has the phone at 192.168.1.10 call the far end at
// 203.0.113.10 naming sdp for its media, both send 100 packets of RTP (the
// far end to sdp), and the phone hang up; it returns how many the phone
// heard.
func labCallHeard(t *testing.T, phone, far *natlab.Host, callID string, sdp netip.AddrPort) int {
	t.Helper()
	media := listenLab(t, phone, "192.168.1.10:10000")
	farMedia := netip.MustParseAddrPort("203.0.113.10:30000")
	sip, farSIP, farRTP := labCallEnds(t, phone, far, farMedia)
	call := newLabDialog(t, sip, farSIP, callID, sdp, farMedia)
	call.respond("200 OK")
	call.ack()
	tone := g711.ULawTone(160, 1000, 4000)
	heard := make(chan int, 1)
	go func() { heard <- countUDP(media, 1000, 3*time.Second) }()
	for i := range 100 {
		_, _ = media.WriteToUDP(toneRTP(uint16(i), uint32(i*160), 0x11111111, tone), net.UDPAddrFromAddrPort(farMedia))
		_, _ = farRTP.WriteToUDP(toneRTP(uint16(i), uint32(i*160), 0x22222222, tone), net.UDPAddrFromAddrPort(sdp))
		time.Sleep(20 * time.Millisecond)
	}
	n := <-heard
	labBye(t, sip, farSIP, callID)
	time.Sleep(200 * time.Millisecond)
	return n
}

func labMediaFromSecondWAN(t *testing.T, dropInput bool) {
	lab := natlab.New(t)
	far := lab.PublicHost("far", "203.0.113.10")
	r1 := lab.Router("r1", natlab.RouterConfig{WAN: "203.0.113.1", LAN: "192.168.1.1/24",
		NAT: natlab.NATConfig{Mapping: natlab.EndpointIndependent, DropInput: dropInput}})
	for _, cmd := range [][]string{{"ip", "addr", "add", "203.0.113.2/24", "dev", "wan0"},
		{"nft", "insert", "rule", "ip", "natlab", "postrouting", "iifname", "brlan", "oifname", "wan0", "udp", "sport", "10000-10100", "snat", "to", "203.0.113.2"}} {
		if out, err := r1.Run(context.Background(), cmd[0], cmd[1:]...); err != nil {
			t.Fatalf("%v: %v %s", cmd, err, out)
		}
	}
	phone := r1.LANHost("phone", "192.168.1.10")
	farPcap := filepath.Join(t.TempDir(), "far.pcap")
	farDump := far.StartTcpdump(t, farPcap, "udp or icmp")
	if n := labCallHeard(t, phone, far, "second-wan@natdoc.test", netip.MustParseAddrPort("203.0.113.1:10000")); n != 0 {
		t.Fatalf("the phone heard %d packets sent to 203.0.113.1", n)
	}
	farDump.Stop()
	name := map[bool]string{false: "refused", true: "dropped"}[dropInput]
	keepLabFile(t, farPcap, "second-wan-"+name+".pcap")

	res := analyzePath(t, farPcap)
	if len(res.Calls) != 1 || res.Calls[0].Verdict != report.VerdictOneWay || res.Calls[0].CannotHear != "caller" {
		t.Fatalf("calls %+v", res.Calls)
	}
	f := findingByID(res.Calls[0].Findings, report.IDOneWayAudio)
	want := "203.0.113.2:10000, another public address"
	if f == nil || f.Remedy != remedyMediaAddressMoved || !strings.Contains(evidenceTexts(f), want) {
		t.Errorf("finding %+v, want %q", f, want)
	}
}
