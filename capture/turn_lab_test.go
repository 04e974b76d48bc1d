//go:build linux

package capture

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"net/netip"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/natdoc/natdoc/internal/g711"
	"github.com/natdoc/natdoc/internal/natlab"
	"github.com/natdoc/natdoc/report"
	"github.com/pion/stun/v3"
)

// TestLabTURNRelayedCall: a phone behind a NAT that maps per destination
// (masquerade random: STUN cannot help) relays its media through a real
// TURN server (coturn), over UDP and, as behind a firewall that lets no
// UDP out, over TCP. It allocates a relayed address, names it in its SDP,
// binds a channel to the far end's media address and sends and receives
// its RTP in ChannelData. The capture, taken on the phone itself, holds
// no plain RTP at all; natdoc unwraps it and judges the call two-way,
// with every packet both ways and the relay named.
func TestLabTURNRelayedCall(t *testing.T) {
	for _, transport := range []string{"udp", "tcp"} {
		t.Run(transport, func(t *testing.T) { labTURNRelayedCall(t, transport) })
	}
}

func labTURNRelayedCall(t *testing.T, transport string) {
	lab := natlab.New(t)
	turnHost := lab.PublicHost("turn", "198.51.100.9")
	far := lab.PublicHost("far", "203.0.113.10")
	r1 := lab.Router("r1", natlab.RouterConfig{WAN: "203.0.113.1", LAN: "192.168.1.1/24",
		NAT: natlab.NATConfig{Mapping: natlab.AddressAndPortDependent}})
	phone := r1.LANHost("phone", "192.168.1.10")
	server := natlab.StartTURN(t, turnHost)
	pcap := filepath.Join(t.TempDir(), "phone.pcap")
	dump := phone.StartTcpdump(t, pcap, "udp or tcp")
	// On the server each packet is seen twice, in ChannelData on the
	// client's side and plain on the peer's; merged with the phone's
	// capture (which has the SIP), each copy counts once.
	serverPcap := filepath.Join(t.TempDir(), "turn.pcap")
	serverDump := turnHost.StartTcpdump(t, serverPcap, "udp or tcp")

	client := dialTURN(t, phone, transport, server)
	defer client.Close()
	farMedia := netip.MustParseAddrPort("203.0.113.10:30000")
	relay := client.allocate(t)
	client.request(t, stun.MethodChannelBind, stun.RawAttribute{Type: stun.AttrChannelNumber, Value: []byte{0x40, 0, 0, 0}},
		xorAttr{farMedia, stun.AttrXORPeerAddress})

	sip, farSIP, farRTP := labCallEnds(t, phone, far, farMedia)
	labSIPCall(t, sip, farSIP, relay, farMedia)

	// 100 packets each way, 20 ms apart: the phone's through the channel,
	// the far end's to the relayed address.
	const n = 100
	tone := g711.ULawTone(160, 1000, 4000)
	got := make(chan int, 1)
	go func() { got <- client.countChannelData(n, 10*time.Second) }()
	farGot := make(chan int, 1)
	go func() { farGot <- countUDP(farRTP, n, 10*time.Second) }()
	relayUDP := net.UDPAddrFromAddrPort(relay)
	for i := range n {
		client.sendChannelData(t, 0x4000, toneRTP(uint16(i), uint32(i*160), 0x11111111, tone))
		if _, err := farRTP.WriteToUDP(toneRTP(uint16(i), uint32(i*160), 0x22222222, tone), relayUDP); err != nil {
			t.Fatal(err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	phoneHeard, farHeard := <-got, <-farGot
	labBye(t, sip, farSIP, "turn-lab@natdoc.test")
	time.Sleep(200 * time.Millisecond)
	dump.Stop()
	serverDump.Stop()
	if phoneHeard != n || farHeard != n {
		t.Fatalf("the relay carried %d packets to the phone and %d to the far end, want %d each", phoneHeard, farHeard, n)
	}

	checkTURNRelayedCall(t, "the phone's capture", analyzePath(t, pcap), relay, farMedia, server, n)
	both, err := Analyze(context.Background(), Options{Files: []string{pcap, serverPcap}, Detail: true})
	if err != nil {
		t.Fatal(err)
	}
	checkTURNRelayedCall(t, "the phone's and the server's captures", both, relay, farMedia, server, n)
}

// labTURNClient is the phone's side of a TURN allocation (RFC 8656), over
// UDP or TCP (where STUN messages and ChannelData padded to 4 bytes
// follow each other on the stream, §12.5).
type labTURNClient struct {
	udp    *net.UDPConn
	tcp    net.Conn
	server netip.AddrPort
}

func dialTURN(t *testing.T, phone *natlab.Host, transport string, server netip.AddrPort) *labTURNClient {
	t.Helper()
	c := &labTURNClient{server: server}
	var err error
	if transport == "tcp" {
		c.tcp, err = phone.DialTCP("tcp4", server.String(), 5*time.Second)
	} else {
		c.udp, err = phone.ListenUDP("udp4", "192.168.1.10:10000")
	}
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func (c *labTURNClient) Close() {
	if c.tcp != nil {
		c.tcp.Close()
	} else {
		c.udp.Close()
	}
}

func (c *labTURNClient) write(b []byte) error {
	if c.tcp != nil {
		_, err := c.tcp.Write(b)
		return err
	}
	_, err := c.udp.WriteToUDPAddrPort(b, c.server)
	return err
}

// read returns the next datagram or frame from the server.
func (c *labTURNClient) read(deadline time.Time) ([]byte, error) {
	if c.tcp == nil {
		buf := make([]byte, 1500)
		_ = c.udp.SetReadDeadline(deadline)
		k, _, err := c.udp.ReadFromUDP(buf)
		return buf[:k], err
	}
	_ = c.tcp.SetReadDeadline(deadline)
	head := make([]byte, 4)
	if _, err := io.ReadFull(c.tcp, head); err != nil {
		return nil, err
	}
	n, _, ok := turnFrameLen(head)
	if !ok {
		return nil, fmt.Errorf("not a TURN frame: % x", head)
	}
	frame := make([]byte, n)
	copy(frame, head)
	_, err := io.ReadFull(c.tcp, frame[4:])
	return frame, err
}

// request sends a TURN request and returns the success response; UDP
// requests are resent (RFC 8489 §6.2.1), TCP ones are not.
func (c *labTURNClient) request(t *testing.T, method stun.Method, attrs ...stun.Setter) *stun.Message {
	t.Helper()
	req := stun.MustBuild(append([]stun.Setter{stun.TransactionID, stun.NewType(method, stun.ClassRequest)}, attrs...)...)
	for try := 0; try < 5; try++ {
		if err := c.write(req.Raw); err != nil {
			t.Fatal(err)
		}
		b, err := c.read(time.Now().Add(time.Second))
		if err != nil {
			continue
		}
		resp := &stun.Message{Raw: b}
		if err := resp.Decode(); err != nil || resp.TransactionID != req.TransactionID {
			continue
		}
		if resp.Type.Class != stun.ClassSuccessResponse {
			var code stun.ErrorCodeAttribute
			_ = code.GetFrom(resp)
			t.Fatalf("TURN %s refused: %v", method, code)
		}
		return resp
	}
	t.Fatalf("TURN %s: no answer from %s", method, c.server)
	return nil
}

// allocate allocates a relayed UDP address (RFC 8656 §7).
func (c *labTURNClient) allocate(t *testing.T) netip.AddrPort {
	t.Helper()
	resp := c.request(t, stun.MethodAllocate, stun.RawAttribute{Type: stun.AttrRequestedTransport, Value: []byte{17, 0, 0, 0}})
	var relayed stun.XORMappedAddress
	if err := relayed.GetFromAs(resp, stun.AttrXORRelayedAddress); err != nil {
		t.Fatal(err)
	}
	ip, _ := netip.AddrFromSlice(relayed.IP)
	return netip.AddrPortFrom(ip.Unmap(), uint16(relayed.Port))
}

// sendChannelData sends data on channel, padded to 4 bytes over TCP.
func (c *labTURNClient) sendChannelData(t *testing.T, channel uint16, data []byte) {
	t.Helper()
	frame := append([]byte{byte(channel >> 8), byte(channel), byte(len(data) >> 8), byte(len(data))}, data...)
	for c.tcp != nil && len(frame)%4 != 0 {
		frame = append(frame, 0)
	}
	if err := c.write(frame); err != nil {
		t.Fatal(err)
	}
}

// countChannelData counts the ChannelData that arrives, up to n, within
// timeout.
func (c *labTURNClient) countChannelData(n int, timeout time.Duration) int {
	deadline := time.Now().Add(timeout)
	count := 0
	for count < n {
		b, err := c.read(deadline)
		if err != nil {
			break
		}
		if _, _, ok := channelData(b); ok {
			count++
		}
	}
	return count
}

// checkTURNRelayedCall checks TestLabTURNRelayedCall's call as one
// capture shows it: two-way, n packets each way between the relayed
// address and the far end, bound by the SDP, the relay named.
func checkTURNRelayedCall(t *testing.T, name string, res *Result, relay, farMedia, server netip.AddrPort, n uint64) {
	t.Helper()
	if len(res.Calls) != 1 {
		t.Fatalf("%s: %d calls", name, len(res.Calls))
	}
	c := res.Calls[0]
	if c.Verdict != report.VerdictTwoWay {
		t.Errorf("%s: verdict %s (%s), want two-way", name, c.Verdict, c.Explain)
	}
	byDir := map[string]report.RTPFlow{}
	for _, s := range c.Streams {
		for _, f := range s.Flows {
			if !f.RTCP {
				byDir[f.Direction] = f
			}
		}
	}
	for dir, want := range map[string][2]string{"caller->callee": {relay.String(), farMedia.String()}, "callee->caller": {farMedia.String(), relay.String()}} {
		f := byDir[dir]
		if f.Packets != n || f.Src != want[0] || f.Dst != want[1] || !f.MatchedSDP || f.TURNServer != server.String() || !strings.HasPrefix(f.TURNClient, "192.168.1.10:") {
			t.Errorf("%s, %s: %+v; want %d packets %s → %s by the SDP, relayed by %s", name, dir, f, n, want[0], want[1], server)
		}
	}
}

// labSIPCall sends an INVITE naming relay as the phone's media address
// from phone to far, which answers 200 OK naming farMedia; the phone
// acknowledges.
func labSIPCall(t *testing.T, phone, far *net.UDPConn, relay, farMedia netip.AddrPort) {
	t.Helper()
	farAddr := net.UDPAddrFromAddrPort(netip.MustParseAddrPort("203.0.113.10:5060"))
	sdp := func(user string, at netip.AddrPort) string {
		return fmt.Sprintf("v=0\r\no=%s 1 1 IN IP4 %s\r\ns=-\r\nc=IN IP4 %s\r\nt=0 0\r\nm=audio %d RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\na=rtcp-mux\r\na=sendrecv\r\n",
			user, at.Addr(), at.Addr(), at.Port())
	}
	offer := sdp("100", relay)
	invite := "INVITE sip:200@203.0.113.10 SIP/2.0\r\nVia: SIP/2.0/UDP 192.168.1.10:5060;branch=z9hG4bKturn1;rport\r\nMax-Forwards: 70\r\n" +
		"From: <sip:100@natdoc.test>;tag=a1\r\nTo: <sip:200@natdoc.test>\r\nCall-ID: turn-lab@natdoc.test\r\nCSeq: 1 INVITE\r\n" +
		"Contact: <sip:100@192.168.1.10:5060>\r\nContent-Type: application/sdp\r\nContent-Length: " + fmt.Sprint(len(offer)) + "\r\n\r\n" + offer
	if _, err := phone.WriteToUDP([]byte(invite), farAddr); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 4096)
	_ = far.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, from, err := far.ReadFromUDP(buf)
	if err != nil {
		t.Fatalf("the INVITE did not arrive: %v", err)
	}
	answer := sdp("200", farMedia)
	ok := "SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 192.168.1.10:5060;branch=z9hG4bKturn1;rport=" + fmt.Sprint(from.Port) + ";received=" + from.IP.String() + "\r\n" +
		"From: <sip:100@natdoc.test>;tag=a1\r\nTo: <sip:200@natdoc.test>;tag=b1\r\nCall-ID: turn-lab@natdoc.test\r\nCSeq: 1 INVITE\r\n" +
		"Contact: <sip:200@203.0.113.10:5060>\r\nContent-Type: application/sdp\r\nContent-Length: " + fmt.Sprint(len(answer)) + "\r\n\r\n" + answer
	if _, err := far.WriteToUDP([]byte(ok), from); err != nil {
		t.Fatal(err)
	}
	_ = phone.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, _, err := phone.ReadFromUDP(buf); err != nil {
		t.Fatalf("the 200 OK did not arrive: %v", err)
	}
	ack := "ACK sip:200@203.0.113.10:5060 SIP/2.0\r\nVia: SIP/2.0/UDP 192.168.1.10:5060;branch=z9hG4bKturn2;rport\r\nMax-Forwards: 70\r\n" +
		"From: <sip:100@natdoc.test>;tag=a1\r\nTo: <sip:200@natdoc.test>;tag=b1\r\nCall-ID: turn-lab@natdoc.test\r\nCSeq: 1 ACK\r\nContent-Length: 0\r\n\r\n"
	if _, err := phone.WriteToUDP([]byte(ack), farAddr); err != nil {
		t.Fatal(err)
	}
}

// labCallEnds opens labSIPCall's sockets: the phone's SIP (192.168.1.10:5060),
// the far end's SIP (203.0.113.10:5060) and media (farMedia), closed when
// the test ends.
func labCallEnds(t *testing.T, phone, far *natlab.Host, farMedia netip.AddrPort) (sip, farSIP, farRTP *net.UDPConn) {
	t.Helper()
	return listenLab(t, phone, "192.168.1.10:5060"), listenLab(t, far, "203.0.113.10:5060"), listenLab(t, far, farMedia.String())
}

// countUDP reads from conn until n datagrams came or wait passed, and
// says how many came.
func countUDP(conn *net.UDPConn, n int, wait time.Duration) int {
	buf := make([]byte, 1500)
	_ = conn.SetReadDeadline(time.Now().Add(wait))
	count := 0
	for count < n {
		if _, _, err := conn.ReadFromUDP(buf); err != nil {
			break
		}
		count++
	}
	return count
}

// toneRTP is an RTP packet (RFC 3550 §5.1) of PCMU.
func toneRTP(seq uint16, ts, ssrc uint32, payload []byte) []byte {
	p := make([]byte, 12, 12+len(payload))
	p[0] = 0x80
	binary.BigEndian.PutUint16(p[2:4], seq)
	binary.BigEndian.PutUint32(p[4:8], ts)
	binary.BigEndian.PutUint32(p[8:12], ssrc)
	return append(p, payload...)
}
