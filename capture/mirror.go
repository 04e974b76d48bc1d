package capture

import (
	"encoding/binary"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

// Traffic mirrored to a collector often arrives wrapped in UDP: AWS VPC
// Traffic Mirroring and Azure virtual network TAP send each mirrored frame
// in VXLAN (RFC 7348), AWS Gateway Load Balancer in Geneve (RFC 8926), and
// a MikroTik router's packet sniffer streams it in TZSP; Cisco's ERSPAN
// sends it in GRE (gopacket decodes Types I and II; Type III is read
// here). Wireshark opens
// these by default; natdoc does too, or a capture taken in the cloud or from
// a MikroTik would show no SIP at all. The wrapped frame is decoded as if
// captured itself, with the outer packet's frame number and time.

// The UDP ports these encapsulations are sent to.
const (
	vxlanPort  = 4789
	genevePort = 6081
	tzspPort   = 37008
	// gtpUPort is GTP-U's (3GPP TS 29.281): a mobile core carries its
	// subscribers' IP packets in it between base stations and gateways
	// (S1-U, S5/S8, N3, Gn), so a capture on those links holds their VoLTE
	// and VoIP calls inside it. Not a mirror, but read the same way.
	gtpUPort = 2152
)

// gtpuMessageGPDU is the GTP-U message type that carries a user's packet
// (a T-PDU); the others are the tunnel's own signalling (echo, errors).
const gtpuMessageGPDU = 255

// EtherTypes a mirrored frame, or what Geneve carries, is checked for.
const (
	etherTypeIPv6                = 0x86dd
	etherTypeQinQ                = 0x88a8
	etherTypeTransparentBridging = 0x6558
	etherTypeERSPANIII           = 0x22eb
)

// maxDepth bounds encapsulations inside encapsulations: a mirror of
// mirrored traffic, or PPPoE inside a mirror, is two deep; more is a
// crafted packet.
const maxDepth = 4

// unwrapMirror decodes the frame a mirroring encapsulation carries in pkt,
// reporting whether pkt was one. A UDP payload on those ports that is not
// a valid header of the encapsulation stays an ordinary datagram.
func (d *decoder) unwrapMirror(pkt *packet, emit func(*packet)) bool {
	if pkt.Proto != protoUDP {
		return false
	}
	inner, link, ok := mirroredFrame(pkt.Src.Port(), pkt.Dst.Port(), pkt.Payload)
	if !ok && (pkt.Src.Port() == gtpUPort || pkt.Dst.Port() == gtpUPort) {
		inner, ok = d.gtpuPacket(pkt.Payload)
		link = layers.LinkTypeRaw
	}
	if !ok {
		return false
	}
	d.decodeInner(pkt, inner, link, emit)
	return true
}

// decodeInner decodes the frame or packet a tunnel or mirror wrapped in
// pkt as if captured itself, with pkt's frame number and time. Wrappings
// nest at most maxDepth deep: each level decodes what is left of the
// packet again, so a crafted packet of hundreds would cost time squared.
func (d *decoder) decodeInner(pkt *packet, inner []byte, link layers.LinkType, emit func(*packet)) {
	if d.depth >= maxDepth {
		d.sink.anomaly("encapsulation-too-deep", pkt.Offset, pkt.Frame, "more than 4 tunnel or mirror headers (VXLAN, Geneve, TZSP, ERSPAN, GTP-U, PPTP, PPPoE, MPLS) around one packet")
		return
	}
	wire := len(inner)
	if pkt.Truncated {
		wire++ // the capture's snap length cut the outer packet, so the inner one too
	}
	d.depth++
	d.decode(Record{Data: inner, Time: pkt.Time, WireLen: wire, LinkType: link, Offset: pkt.Offset}, pkt.Frame, emit)
	d.depth--
}

// erspanFrame returns the frame an ERSPAN Type III GRE packet (protocol
// 0x22EB) carries; gopacket decodes Types I and II itself. Its 12-byte
// header holds version 2 and a frame type (0 Ethernet, 2 IP), and with its
// O flag an 8-byte platform subheader follows it.
func erspanFrame(g *layers.GRE) ([]byte, layers.LinkType, bool) {
	b := g.Payload
	if g.Protocol != etherTypeERSPANIII || len(b) < 12 || b[0]>>4 != 2 {
		return nil, 0, false
	}
	header := 12
	if b[11]&1 != 0 {
		header += 8
	}
	if len(b) <= header {
		return nil, 0, false
	}
	switch inner := b[header:]; (b[10] >> 2) & 0x1f {
	case 0:
		if len(inner) >= ethHeaderLen && carriesIP(inner) {
			return inner, layers.LinkTypeEthernet, true
		}
	case 2:
		return inner, layers.LinkTypeRaw, true
	}
	return nil, 0, false
}

// mirroredFrame returns the frame a VXLAN, Geneve or TZSP payload carries
// and its link type, when the payload is one (by port and by header).
func mirroredFrame(src, dst uint16, b []byte) ([]byte, layers.LinkType, bool) {
	switch {
	case src == vxlanPort || dst == vxlanPort:
		return vxlanFrame(b)
	case src == genevePort || dst == genevePort:
		return geneveFrame(b)
	case src == tzspPort || dst == tzspPort:
		return tzspFrame(b)
	}
	return nil, 0, false
}

// vxlanFrame reads a VXLAN header (RFC 7348 §5): flags with the I bit
// (0x08) set, the VNI, reserved bits a receiver ignores, then an Ethernet
// frame. RTP sent to port 4789 fails here: only one with eight or more
// contributing sources has that bit set, and its bytes that would be the
// frame's EtherType are not IP.
func vxlanFrame(b []byte) ([]byte, layers.LinkType, bool) {
	const header = 8
	if len(b) < header+ethHeaderLen || b[0]&0x08 == 0 || !carriesIP(b[header:]) {
		return nil, 0, false
	}
	return b[header:], layers.LinkTypeEthernet, true
}

// geneveFrame reads a Geneve header (RFC 8926 §3.4): version 0, the length
// of its options in 4-byte words, and the protocol of what follows: an
// Ethernet frame (0x6558) or an IP packet.
func geneveFrame(b []byte) ([]byte, layers.LinkType, bool) {
	if len(b) < 8 || b[0]>>6 != 0 {
		return nil, 0, false
	}
	header := 8 + int(b[0]&0x3f)*4
	if len(b) <= header {
		return nil, 0, false
	}
	inner := b[header:]
	switch binary.BigEndian.Uint16(b[2:4]) {
	case etherTypeTransparentBridging:
		if len(inner) >= ethHeaderLen && carriesIP(inner) {
			return inner, layers.LinkTypeEthernet, true
		}
	case etherTypeIPv4, etherTypeIPv6:
		return inner, layers.LinkTypeRaw, true
	}
	return nil, 0, false
}

// tzspFrame reads a TZSP header: version 1, a type (0: a received frame,
// 1: a frame to send), the encapsulated protocol (1: Ethernet), then tagged
// fields up to the END tag: PADDING (0) and END (1) are one byte, every
// other tag a type, a length and that many bytes.
func tzspFrame(b []byte) ([]byte, layers.LinkType, bool) {
	if len(b) < 4 || b[0] != 1 || b[1] > 1 || binary.BigEndian.Uint16(b[2:4]) != 1 {
		return nil, 0, false
	}
	for i := 4; i < len(b); {
		switch b[i] {
		case 0: // padding
			i++
		case 1: // end of the tagged fields
			inner := b[i+1:]
			if len(inner) < ethHeaderLen || !carriesIP(inner) {
				return nil, 0, false
			}
			return inner, layers.LinkTypeEthernet, true
		default:
			if i+1 >= len(b) {
				return nil, 0, false
			}
			i += 2 + int(b[i+1])
		}
	}
	return nil, 0, false
}

// carriesIP says whether an Ethernet frame holds IPv4 or IPv6, directly
// or under 802.1Q tags: what a mirror of VoIP traffic carries, and a check
// that the header before it was what it seemed.
func carriesIP(frame []byte) bool {
	off := 12
	for off+2 <= len(frame) {
		switch binary.BigEndian.Uint16(frame[off : off+2]) {
		case etherTypeIPv4, etherTypeIPv6:
			return true
		case etherTypeDot1Q, etherTypeQinQ:
			off += dot1qHeaderLen
		default:
			return false
		}
	}
	return false
}

// gtpuPacket returns the IP packet a GTP-U G-PDU carries (gopacket reads
// the header and its extension headers). Another message type, or a
// payload that is not IP, stays an ordinary datagram.
func (d *decoder) gtpuPacket(b []byte) ([]byte, bool) {
	g := &d.gtpu
	if g.DecodeFromBytes(b, gopacket.NilDecodeFeedback) != nil || g.Version != 1 || g.ProtocolType != 1 || g.MessageType != gtpuMessageGPDU {
		return nil, false
	}
	ip := g.Payload
	// The length counts what follows the first 8 bytes: anything after it
	// is not the user's packet.
	if end := 8 + int(g.MessageLength) - len(g.Contents); end >= 0 && end < len(ip) {
		ip = ip[:end]
	}
	if len(ip) == 0 || (ip[0]>>4 != 4 && ip[0]>>4 != 6) {
		return nil, false
	}
	return ip, true
}
