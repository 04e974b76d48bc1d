package pcapgen

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
)

// Hostile captures: every record is valid, the state they ask an
// analyser to keep is not bounded. Packets are 1 µs apart, so nothing in
// them is old enough to be timed out by capture time; addresses are from
// the documentation ranges. bench/hostile.sh writes them large (through
// bench/cmd/hostilepcap), capture's tests small.

// WriteCallFlood writes n INVITEs, each starting a call of its own (a new
// Call-ID) that never gets an answer.
func WriteCallFlood(w io.Writer, n int) error {
	return writeHostile(w, func(g *gen) error { return g.callIDs(n) })
}

// WriteEndlessTCP writes one TCP connection to port 5060 carrying a
// request line and then header lines, size bytes in all, with no blank
// line ever: a SIP message that never ends.
func WriteEndlessTCP(w io.Writer, size int64) error {
	return writeHostile(w, func(g *gen) error { return g.endlessTCP(size) })
}

// WriteFragmentFlood writes n first fragments of UDP datagrams to port
// 5060, each with an IP ID and address pair of its own, whose other
// fragments never come.
func WriteFragmentFlood(w io.Writer, n int) error {
	return writeHostile(w, func(g *gen) error { return g.fragments(n) })
}

func writeHostile(w io.Writer, fill func(*gen) error) error {
	bw := bufio.NewWriterSize(w, 1<<20)
	g := &gen{w: pcapgo.NewWriter(bw), at: time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC), buf: gopacket.NewSerializeBuffer()}
	if err := g.w.WriteFileHeader(65535, layers.LinkTypeEthernet); err != nil {
		return err
	}
	if err := fill(g); err != nil {
		return err
	}
	return bw.Flush()
}

// gen writes one hostile capture.
type gen struct {
	w   *pcapgo.Writer
	at  time.Time
	buf gopacket.SerializeBuffer
	seq uint32
}

// hostileIP is the i-th address of 198.51.100.0/24 and 203.0.113.0/24.
func hostileIP(i int) net.IP {
	if i%2 == 0 {
		return net.IPv4(198, 51, 100, byte(1+i/2%250)).To4()
	}
	return net.IPv4(203, 0, 113, byte(1+i/2%250)).To4()
}

func (g *gen) frame(ipl *layers.IPv4, l ...gopacket.SerializableLayer) error {
	g.at = g.at.Add(time.Microsecond)
	eth := &layers.Ethernet{SrcMAC: net.HardwareAddr{2, 0, 0, 0, 0, 1}, DstMAC: net.HardwareAddr{2, 0, 0, 0, 0, 2}, EthernetType: layers.EthernetTypeIPv4}
	layersAll := append([]gopacket.SerializableLayer{eth, ipl}, l...)
	if err := gopacket.SerializeLayers(g.buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, layersAll...); err != nil {
		return err
	}
	b := g.buf.Bytes()
	return g.w.WritePacket(gopacket.CaptureInfo{Timestamp: g.at, CaptureLength: len(b), Length: len(b)}, b)
}

// callIDs: n INVITEs, each starting a call of its own that never gets
// an answer.
func (g *gen) callIDs(n int) error {
	for i := range n {
		src, dst := hostileIP(i), hostileIP(i+1)
		msg := fmt.Sprintf("INVITE sip:u%d@%s SIP/2.0\r\nVia: SIP/2.0/UDP %s:5060;branch=z9hG4bK%d\r\nFrom: <sip:c%d@%s>;tag=%d\r\n"+
			"To: <sip:u%d@%s>\r\nCall-ID: hostile-%d@%s\r\nCSeq: 1 INVITE\r\nMax-Forwards: 70\r\nContact: <sip:c%d@%s:5060>\r\nContent-Length: 0\r\n\r\n",
			i, dst, src, i, i, src, i, i, dst, i, src, i, src)
		ipl := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolUDP, SrcIP: src, DstIP: dst}
		udp := &layers.UDP{SrcPort: 5060, DstPort: 5060}
		udp.SetNetworkLayerForChecksum(ipl)
		if err := g.frame(ipl, udp, gopacket.Payload(msg)); err != nil {
			return err
		}
	}
	return nil
}

// endlessTCP: one TCP connection to port 5060 carrying a request line and
// then header lines, size bytes in all, with no blank line ever.
func (g *gen) endlessTCP(size int64) error {
	src, dst := hostileIP(0), hostileIP(1)
	seg := func(payload []byte, syn bool) error {
		ipl := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolTCP, SrcIP: src, DstIP: dst}
		tcp := &layers.TCP{SrcPort: 40000, DstPort: 5060, Seq: g.seq, SYN: syn, ACK: !syn, PSH: !syn, Window: 65535}
		tcp.SetNetworkLayerForChecksum(ipl)
		g.seq += uint32(len(payload))
		if syn {
			g.seq++
		}
		return g.frame(ipl, tcp, gopacket.Payload(payload))
	}
	if err := seg(nil, true); err != nil {
		return err
	}
	first := []byte("INVITE sip:endless@" + dst.String() + " SIP/2.0\r\nVia: SIP/2.0/TCP " + src.String() + ":40000;branch=z9hG4bKendless\r\n")
	if err := seg(first, false); err != nil {
		return err
	}
	line := []byte("X-Padding: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n")
	body := make([]byte, 0, 1448)
	for len(body)+len(line) <= cap(body) {
		body = append(body, line...)
	}
	for sent := int64(len(first)); sent < size; sent += int64(len(body)) {
		if err := seg(body, false); err != nil {
			return err
		}
	}
	return nil
}

// fragments: n first fragments (offset 0, more fragments) of UDP
// datagrams to port 5060, each with an IP ID and address pair of its own,
// whose other fragments never come.
func (g *gen) fragments(n int) error {
	payload := make([]byte, 256)
	copy(payload, "INVITE sip:fragment@example.com SIP/2.0\r\n")
	for i := range n {
		ipl := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolUDP, SrcIP: hostileIP(i / 65536), DstIP: hostileIP(i/65536 + 1),
			Id: uint16(i), Flags: layers.IPv4MoreFragments}
		// The first fragment's payload starts with a UDP header for a
		// 1,000-byte datagram, of which 256 bytes are here.
		udp := []byte{0x13, 0xc4, 0x13, 0xc4, 0x03, 0xe8, 0, 0}
		if err := g.frame(ipl, gopacket.Payload(append(udp, payload...))); err != nil {
			return err
		}
	}
	return nil
}
