package capture

import (
	"encoding/binary"

	"github.com/gopacket/gopacket/layers"
)

// macOS and iOS write captures taken through Apple's PKTAP pseudo-device
// (tcpdump -k or -i pktap on a Mac; an iPhone's traffic through rvictl's
// rvi0) with a header before each packet: its length, a record type, the
// packet's own link type, the interface and the process that sent or
// received it, all in the capturing machine's (little-endian) order.
// gopacket has no decoder for it; this skips the header and decodes the
// packet by its link type.

const (
	// linkTypePKTAP is LINKTYPE_PKTAP, as libpcap writes it to files.
	linkTypePKTAP layers.LinkType = 258
	// linkTypeUser2 is DLT_USER2, the number Apple's own libpcap gives
	// PKTAP and may write unmapped; it is read as PKTAP only when the
	// header is one.
	linkTypeUser2 layers.LinkType = 149
	// pktapMinHeader is the header as first defined (108 bytes); later
	// versions add fields and say so in its length.
	pktapMinHeader = 108
	// pktapRecordPacket is PKT_REC_PACKET: a packet follows the header.
	pktapRecordPacket = 1
)

// pktapPacket returns the packet a PKTAP record carries and its link
// type, or false when the record is no PKTAP packet record or carries a
// link type natdoc does not decode (never PKTAP again).
func pktapPacket(b []byte) ([]byte, layers.LinkType, bool) {
	if len(b) < pktapMinHeader {
		return nil, 0, false
	}
	n := binary.LittleEndian.Uint32(b[0:4])
	if n < pktapMinHeader || uint64(n) > uint64(len(b)) || binary.LittleEndian.Uint32(b[4:8]) != pktapRecordPacket {
		return nil, 0, false
	}
	link, ok := pktapInnerLink(binary.LittleEndian.Uint32(b[8:12]))
	return b[n:], link, ok
}

// pktapInnerLink maps the link type (a DLT as Apple numbers them) of the
// packet inside to the one decode reads.
func pktapInnerLink(dlt uint32) (layers.LinkType, bool) {
	switch dlt {
	case 0: // DLT_NULL: loopback and utun (VPN) interfaces
		return layers.LinkTypeNull, true
	case 1: // DLT_EN10MB: Ethernet and Wi-Fi
		return layers.LinkTypeEthernet, true
	case 12, 14, 101: // DLT_RAW (BSD's 12 and 14, LINKTYPE_RAW): an iPhone's cellular pdp_ip
		return layers.LinkTypeRaw, true
	case 108: // DLT_LOOP
		return layers.LinkTypeLoop, true
	case 113: // DLT_LINUX_SLL
		return layers.LinkTypeLinuxSLL, true
	}
	return 0, false
}

// decodePKTAP decodes the packet a PKTAP record carries. A record of link
// type 258 that is none is an anomaly; one of 149 (DLT_USER2, which may
// be anything) is an unknown link type.
func (d *decoder) decodePKTAP(rec Record, frame uint64, emit func(*packet)) {
	inner, link, ok := pktapPacket(rec.Data)
	if !ok {
		if rec.LinkType == linkTypePKTAP {
			d.sink.anomaly("malformed-pktap", rec.Offset, frame, "PKTAP record without a packet natdoc can decode")
		} else {
			d.sink.anomaly("unknown-link-type", rec.Offset, frame, linkTypeName(rec.LinkType))
		}
		return
	}
	rec.WireLen -= len(rec.Data) - len(inner)
	rec.Data, rec.LinkType = inner, link
	d.decode(rec, frame, emit)
}
