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

	"github.com/natdoc/natdoc/internal/natlab"
	"github.com/natdoc/natdoc/report"
)

// TestLabContactPortNotForwarded: a PBX at 192.168.1.5 behind a Linux
// router is reached through a port forward from another outside port
// (203.0.113.1:5080 to 192.168.1.5:5060, as admins set up when their
// provider blocks 5060 or two servers share one address). The PBX knows
// its external address but not that port: its 200 OK's Contact names
// 203.0.113.1:5060. The public phone's ACK goes there, which the router
// does not forward: the PBX never gets it and resends its answer. Taken
// at the PBX and at the phone, the finding names the Contact's port
// against the one the INVITE reached, and the remedy is the port the
// router forwards.
func TestLabContactPortNotForwarded(t *testing.T) {
	for _, tc := range []struct {
		name      string
		dropInput bool
	}{{"refused", false}, {"dropped", true}} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			labContactPortNotForwarded(t, tc.dropInput)
		})
	}
}

func labContactPortNotForwarded(t *testing.T, dropInput bool) {
	lab := natlab.New(t)
	phone := lab.PublicHost("phone", "198.51.100.20")
	r1 := lab.Router("r1", natlab.RouterConfig{WAN: "203.0.113.1", LAN: "192.168.1.1/24", NAT: natlab.NATConfig{
		Mapping: natlab.EndpointIndependent, DropInput: dropInput,
		Forwards: []natlab.Forward{{Proto: "udp", Ports: "5080", To: "192.168.1.5:5060"}, {Proto: "udp", Ports: "10000-10100", To: "192.168.1.5"}},
	}})
	pbx := r1.LANHost("pbx", "192.168.1.5")
	dir := t.TempDir()
	pbxPcap, phonePcap := filepath.Join(dir, "pbx.pcap"), filepath.Join(dir, "phone.pcap")
	pbxDump := pbx.StartTcpdump(t, pbxPcap, "udp or icmp")
	phoneDump := phone.StartTcpdump(t, phonePcap, "udp or icmp")
	phoneSIP := listenLab(t, phone, "198.51.100.20:5060")
	pbxSIP := listenLab(t, pbx, "192.168.1.5:5060")

	d := invitePBX(t, phoneSIP, pbxSIP, "contact-port@natdoc.test", "203.0.113.1:5080")
	// The PBX's external address is set, its port is its own.
	ok, ack := d.answer("203.0.113.1:5060", "203.0.113.1"), d.ack("203.0.113.1:5060")
	from, buf := d.from, make([]byte, 4096)
	acks := 0
	// The PBX resends its answer T1, 2*T1, 4*T1 apart while no ACK comes
	// (RFC 3261 §13.3.1.4); the phone acknowledges each copy at the
	// answer's Contact.
	for _, wait := range []time.Duration{500 * time.Millisecond, time.Second, 2 * time.Second, 0} {
		if _, err := pbxSIP.WriteToUDP([]byte(ok), from); err != nil {
			t.Fatal(err)
		}
		_ = phoneSIP.SetReadDeadline(time.Now().Add(2 * time.Second))
		if _, _, err := phoneSIP.ReadFromUDP(buf); err != nil {
			t.Fatalf("the 200 OK did not reach the phone: %v", err)
		}
		sendLab(t, phoneSIP, ack, "203.0.113.1:5060")
		_ = pbxSIP.SetReadDeadline(time.Now().Add(wait + 50*time.Millisecond))
		if _, _, err := pbxSIP.ReadFromUDP(buf); err == nil {
			acks++
		}
	}
	if acks != 0 {
		t.Fatalf("%d ACKs reached the PBX: the router forwarded 5060", acks)
	}
	time.Sleep(200 * time.Millisecond)
	pbxDump.Stop()
	phoneDump.Stop()
	for _, at := range []struct{ name, path string }{{"pbx", pbxPcap}, {"phone", phonePcap}} {
		res := analyzePath(t, at.path)
		if len(res.Calls) != 1 {
			t.Fatalf("%s: calls %+v", at.name, res.Calls)
		}
		f := findingByID(res.Calls[0].Findings, IDAnswerNotAcknowledged)
		want := "the answer's Contact is 203.0.113.1:5060, where the ACK is sent, but the INVITE reached the callee at 203.0.113.1:5080"
		if f == nil || !strings.Contains(evidenceTexts(f), want) || f.Remedy != remedyContactPortNotForwarded {
			t.Errorf("%s: finding %+v, want %q", at.name, f, want)
		}
		if f != nil && f.Severity != report.SeverityError {
			t.Errorf("%s: severity %s", at.name, f.Severity)
		}
		keepLabFile(t, at.path, "contact-port-"+map[bool]string{true: "dropped", false: "refused"}[dropInput]+"-at-"+at.name+".pcap")
	}
}

// pbxDialog is a call from the public phone at 198.51.100.20:5060 to a
// PBX behind a router (hand-written SIP): the INVITE to the router's
// dest, which reached the PBX from.
type pbxDialog struct {
	callID, dest string
	from         *net.UDPAddr
}

// invitePBX sends the phone's INVITE (G.711 at 198.51.100.20:40000) to
// dest and reads it at the PBX.
func invitePBX(t *testing.T, phoneSIP, pbxSIP *net.UDPConn, callID, dest string) *pbxDialog {
	t.Helper()
	offer := labSDP("100", "198.51.100.20", 40000)
	invite := "INVITE sip:200@" + dest + " SIP/2.0\r\nVia: SIP/2.0/UDP 198.51.100.20:5060;branch=z9hG4bKpb1;rport\r\nMax-Forwards: 70\r\n" +
		"From: <sip:100@natdoc.test>;tag=a1\r\nTo: <sip:200@" + dest + ">\r\nCall-ID: " + callID + "\r\nCSeq: 1 INVITE\r\n" +
		"Contact: <sip:100@198.51.100.20:5060>\r\nContent-Type: application/sdp\r\nContent-Length: " + fmt.Sprint(len(offer)) + "\r\n\r\n" + offer
	sendLab(t, phoneSIP, invite, dest)
	buf := make([]byte, 4096)
	_ = pbxSIP.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, from, err := pbxSIP.ReadFromUDP(buf)
	if err != nil {
		t.Fatalf("the INVITE did not reach the PBX through the forward: %v", err)
	}
	return &pbxDialog{callID: callID, dest: dest, from: from}
}

// answer is the PBX's 200 OK with contact and its media at sdpAddr:10000.
func (d *pbxDialog) answer(contact, sdpAddr string) string {
	sdp := labSDP("200", sdpAddr, 10000)
	return "SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 198.51.100.20:5060;branch=z9hG4bKpb1;rport=" + fmt.Sprint(d.from.Port) + ";received=" + d.from.IP.String() + "\r\n" +
		"From: <sip:100@natdoc.test>;tag=a1\r\nTo: <sip:200@" + d.dest + ">;tag=b1\r\nCall-ID: " + d.callID + "\r\nCSeq: 1 INVITE\r\n" +
		"Contact: <sip:200@" + contact + ">\r\nContent-Type: application/sdp\r\nContent-Length: " + fmt.Sprint(len(sdp)) + "\r\n\r\n" + sdp
}

// ack and bye are the phone's requests in the call, to the answer's
// contact.
func (d *pbxDialog) ack(contact string) string { return d.request("ACK", 1, contact) }
func (d *pbxDialog) bye(contact string) string { return d.request("BYE", 2, contact) }

func (d *pbxDialog) request(method string, cseq int, contact string) string {
	return fmt.Sprintf("%s sip:200@%s SIP/2.0\r\nVia: SIP/2.0/UDP 198.51.100.20:5060;branch=z9hG4bKpb%s;rport\r\nMax-Forwards: 70\r\n", method, contact, method) +
		"From: <sip:100@natdoc.test>;tag=a1\r\nTo: <sip:200@" + d.dest + ">;tag=b1\r\nCall-ID: " + d.callID + fmt.Sprintf("\r\nCSeq: %d %s\r\nContent-Length: 0\r\n\r\n", cseq, method)
}

// listenLab opens a UDP socket at addr on host, closed when the test ends.
func listenLab(t *testing.T, host *natlab.Host, addr string) *net.UDPConn {
	t.Helper()
	c, err := host.ListenUDP("udp4", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// sendLab sends msg from c to addr.
func sendLab(t *testing.T, c *net.UDPConn, msg, addr string) {
	t.Helper()
	if _, err := c.WriteToUDP([]byte(msg), net.UDPAddrFromAddrPort(netip.MustParseAddrPort(addr))); err != nil {
		t.Fatal(err)
	}
}

// labSDP is a G.711 offer or answer of user naming addr:port.
func labSDP(user, addr string, port int) string {
	return fmt.Sprintf("v=0\r\no=%s 1 1 IN IP4 %s\r\ns=-\r\nc=IN IP4 %s\r\nt=0 0\r\nm=audio %d RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\na=sendrecv\r\n",
		user, addr, addr, port)
}
