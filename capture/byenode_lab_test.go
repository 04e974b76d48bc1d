//go:build linux

package capture

import (
	"net/netip"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/natdoc/natdoc/internal/natlab"
)

// TestLabByeFromAnotherNode: Alice's baresip behind her router registers
// with and calls a server node (203.0.113.10, natdoc's own few lines of
// SIP: 200 OK to each); the call's BYE then comes from another node of the
// service (203.0.113.12). Her router lets in only what comes from where
// she sent: the BYE is refused, resent, never answered. The finding says
// it came from another address than her SIP in the call goes to, with the
// remedy to keep the dialog's route through one address.
func TestLabByeFromAnotherNode(t *testing.T) {
	t.Parallel()
	lab := natlab.New(t)
	node1 := lab.PublicHost("node1", "203.0.113.10")
	node2 := lab.PublicHost("node2", "203.0.113.12")
	c1 := listenLab(t, node1, "203.0.113.10:5060")
	c2 := listenLab(t, node2, "203.0.113.12:5060")
	invites := make(chan labInvite, 4)
	go answerAsServerNode(c1, invites)
	pcap := filepath.Join(t.TempDir(), "switch.pcap")
	dump := lab.Core().StartTcpdumpOn(t, "br0", pcap, "udp or icmp")
	r1 := lab.Router("r1", natlab.RouterConfig{WAN: "203.0.113.1", LAN: "192.168.1.1/24", NAT: natlab.NATConfig{Mapping: natlab.EndpointIndependent}})
	alice := natlab.StartBaresip(t, r1.LANHost("alice", "192.168.1.10"), natlab.BaresipConfig{User: "100",
		Registrar: netip.MustParseAddrPort("203.0.113.10:5060"), Dial: "sip:200@203.0.113.10"})
	in := <-invites
	invite, from := in.msg, in.from
	time.Sleep(2 * time.Second)
	hdr := func(name string) string {
		for _, line := range strings.Split(invite, "\r\n") {
			n, v, _ := strings.Cut(line, ":")
			if strings.EqualFold(strings.TrimSpace(n), name) {
				return strings.TrimSpace(v)
			}
		}
		return ""
	}
	bye := "BYE sip:100@" + from.String() + " SIP/2.0\r\nVia: SIP/2.0/UDP 203.0.113.12:5060;branch=z9hG4bKbye2\r\nMax-Forwards: 70\r\n" +
		"From: " + hdr("To") + ";tag=uas1\r\nTo: " + hdr("From") + "\r\nCall-ID: " + hdr("Call-ID") + "\r\nCSeq: 2 BYE\r\nContent-Length: 0\r\n\r\n"
	for _, wait := range []time.Duration{500, 1000, 2000} {
		_, _ = c2.WriteToUDP([]byte(bye), from)
		time.Sleep(wait * time.Millisecond)
	}
	alice.Proc.Stop()
	time.Sleep(300 * time.Millisecond)
	dump.Stop()
	keepLabFile(t, pcap, "bye-from-another-node.pcap")
	res := analyzePath(t, pcap)
	if len(res.Calls) != 1 {
		t.Fatalf("%d calls, want 1", len(res.Calls))
	}
	f := findingOf(res.Calls[0], IDRequestUnanswered)
	if f == nil || f.Remedy != remedySendFromDialogPeer ||
		!strings.Contains(f.Title, "; it came from 203.0.113.12, but the caller's SIP in this call goes to 203.0.113.10: a NAT that filters by address") {
		t.Errorf("finding %+v; findings %v", f, findingIDs(res.Calls[0]))
	}
}
