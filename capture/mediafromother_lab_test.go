//go:build linux

package capture

import (
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

// TestLabMediaFromAnotherAddress: a phone behind a Linux router sends
// its RTP to the address the far end's SDP names (203.0.113.10:30000);
// the far end, a host with two addresses, sends its own RTP from the
// other one (203.0.113.12), or from another port of the same one
// (203.0.113.10:30002, asymmetric RTP), to the phone's mapping. The
// router lets in only what comes from where the phone sent, address and
// port (conntrack): the phone hears nothing, whether the router refuses
// the packets (ICMP) or drops them silently. Captured at the far end, the
// call is one-way, the caller cannot hear, the finding says the media came
// from an address (a port) the phone's media does not go to, and the
// remedy is to send from where it is received.
func TestLabMediaFromAnotherAddress(t *testing.T) {
	for _, tc := range []struct {
		name      string
		dropInput bool
		from      string
	}{
		{"refused", false, "203.0.113.12:30000"},
		{"dropped", true, "203.0.113.12:30000"},
		{"other-port-refused", false, "203.0.113.10:30002"},
		{"other-port-dropped", true, "203.0.113.10:30002"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			labMediaFromAnotherAddress(t, tc.dropInput, tc.from)
		})
	}
}

func labMediaFromAnotherAddress(t *testing.T, dropInput bool, from string) {
	lab := natlab.New(t)
	far := lab.PublicHost("far", "203.0.113.10", "203.0.113.12")
	r1 := lab.Router("r1", natlab.RouterConfig{WAN: "203.0.113.1", LAN: "192.168.1.1/24",
		NAT: natlab.NATConfig{Mapping: natlab.EndpointIndependent, DropInput: dropInput}})
	phone := r1.LANHost("phone", "192.168.1.10")
	farPcap := filepath.Join(t.TempDir(), "far.pcap")
	farDump := far.StartTcpdump(t, farPcap, "udp or icmp")
	media := listenLab(t, phone, "192.168.1.10:10000")
	farMedia := netip.MustParseAddrPort("203.0.113.10:30000")
	sip, farSIP, _ := labCallEnds(t, phone, far, farMedia)
	other := listenLab(t, far, from)
	call := newLabDialog(t, sip, farSIP, "media-from-other@natdoc.test", netip.MustParseAddrPort("192.168.1.10:10000"), farMedia)
	call.respond("200 OK")
	call.ack()
	tone := g711.ULawTone(160, 1000, 4000)
	heard := make(chan int, 1)
	go func() { heard <- countUDP(media, 1000, 3*time.Second) }()
	// The router keeps the phone's port: its mapping is 203.0.113.1:10000.
	mapping := net.UDPAddrFromAddrPort(netip.MustParseAddrPort("203.0.113.1:10000"))
	for i := range 100 {
		_, _ = media.WriteToUDP(toneRTP(uint16(i), uint32(i*160), 0x11111111, tone), net.UDPAddrFromAddrPort(farMedia))
		_, _ = other.WriteToUDP(toneRTP(uint16(i), uint32(i*160), 0x22222222, tone), mapping)
		time.Sleep(20 * time.Millisecond)
	}
	if n := <-heard; n != 0 {
		t.Fatalf("the phone heard %d packets: the router let the other address in", n)
	}
	labBye(t, sip, farSIP, "media-from-other@natdoc.test")
	time.Sleep(200 * time.Millisecond)
	farDump.Stop()
	res := analyzePath(t, farPcap)
	if len(res.Calls) != 1 || res.Calls[0].Verdict != report.VerdictOneWay || res.Calls[0].CannotHear != "caller" {
		t.Fatalf("calls %+v, want one the caller cannot hear", res.Calls)
	}
	f := findingByID(res.Calls[0].Findings, report.IDOneWayAudio)
	want := "the caller's own media from 203.0.113.1:10000 goes to 203.0.113.10:30000, not to 203.0.113.12: a NAT that filters by address"
	if strings.HasPrefix(from, "203.0.113.10:") {
		want = "goes to 203.0.113.10:30000, not to 203.0.113.10:30002: a NAT that filters by address and port"
	}
	if f == nil || !strings.Contains(f.Evidence[0].Text, want) || !dropInput && !strings.Contains(f.Evidence[0].Text, "refused all along") {
		t.Errorf("finding %+v, want %q", f, want)
	}
	// The far end sent to where the phone's media comes from, working
	// around its private SDP: what to mend is where it sends from.
	if p := findingByID(res.Calls[0].Findings, IDSDPPrivateAddress); f.Remedy != remedySendFromWhereReceived || p == nil || p.Severity != report.SeverityInfo {
		t.Errorf("remedy %q, private SDP finding %+v", f.Remedy, p)
	}
	keepLabFile(t, farPcap, "media-from-"+strings.ReplaceAll(from, ":", "-")+map[bool]string{true: "-dropped", false: "-refused"}[dropInput]+".pcap")
}
