package capture

import (
	"encoding/binary"
	"net/netip"

	"github.com/gopacket/gopacket/layers"
)

// Header sizes and type numbers of the fixed-offset walk.
const (
	ethHeaderLen   = 14
	dot1qHeaderLen = 4
	ipv4MinHeader  = 20
	udpHeaderLen   = 8
	etherTypeIPv4  = 0x0800
	etherTypeDot1Q = 0x8100
)

// decodeFast handles the packet that makes up nearly all of a VoIP
// capture, Ethernet (with at most one 802.1Q tag), IPv4 without options
// and unfragmented, UDP, by header offset arithmetic alone. It reports
// false, having touched nothing, for anything else, which then goes
// through the DecodingLayerParser; where it answers, it gives exactly
// what the parser would (the same payload bounds: IPv4 total length trims
// Ethernet padding, UDP length trims the datagram), and it answers only
// when every length is consistent, so truncated and odd packets keep the
// parser's handling.
func (d *decoder) decodeFast(rec Record, frame uint64, emit func(*packet)) bool {
	b := rec.Data
	if len(b) < ethHeaderLen+ipv4MinHeader+udpHeaderLen {
		return false
	}
	off := ethHeaderLen
	etherType := binary.BigEndian.Uint16(b[12:14])
	if etherType == etherTypeDot1Q {
		etherType = binary.BigEndian.Uint16(b[16:18])
		off += dot1qHeaderLen
	}
	if etherType != etherTypeIPv4 || len(b) < off+ipv4MinHeader+udpHeaderLen {
		return false
	}
	ip := b[off:]
	// Version 4, IHL 5 (no options), protocol UDP, MF clear and fragment
	// offset 0 (RFC 791 §3.1): the DF bit may be set.
	if ip[0] != 0x45 || ip[9] != protoUDP || binary.BigEndian.Uint16(ip[6:8])&0x3fff != 0 {
		return false
	}
	total := int(binary.BigEndian.Uint16(ip[2:4]))
	if total < ipv4MinHeader+udpHeaderLen || total > len(ip) {
		return false // TSO zero length, truncated or bogus: the parser decides
	}
	udp := ip[ipv4MinHeader:total]
	udpLen := int(binary.BigEndian.Uint16(udp[4:6]))
	if udpLen < udpHeaderLen || udpLen > len(udp) {
		return false
	}
	d.pkt = packet{
		Frame: frame, Time: rec.Time, Offset: rec.Offset, Truncated: len(rec.Data) < rec.WireLen,
		Proto:   protoUDP,
		Src:     netip.AddrPortFrom(netip.AddrFrom4([4]byte(ip[12:16])), binary.BigEndian.Uint16(udp[0:2])),
		Dst:     netip.AddrPortFrom(netip.AddrFrom4([4]byte(ip[16:20])), binary.BigEndian.Uint16(udp[2:4])),
		Payload: udp[udpHeaderLen:udpLen],
	}
	emit(&d.pkt)
	return true
}

// fastLinkType says whether decodeFast may try records of this link type.
func fastLinkType(lt layers.LinkType) bool { return lt == layers.LinkTypeEthernet }
