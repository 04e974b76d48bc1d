package capture

import (
	"encoding/binary"

	"github.com/gopacket/gopacket/layers"
)

// Endace DAG cards, the capture appliances of carriers and data centres,
// write ERF (Extensible Record Format) records; a pcap or pcapng of link
// type ERF holds one per packet: a 16-byte header (time stamp, record
// type, flags, record length, loss counter, wire length), 8-byte
// extension headers while the type's (then each extension's) top bit
// says another follows, then the packet: for the Ethernet types after
// two bytes of offset and padding, for the IP types at once. gopacket
// has no decoder for it; this skips the header and decodes the packet.

// linkTypeERF is LINKTYPE_ERF.
const linkTypeERF layers.LinkType = 197

// ERF record types natdoc reads (the rest are telephony and SONET links
// it has no use for: HDLC, ATM, AAL5, MC_*, and so on).
const (
	erfTypeEth          = 2
	erfTypeColorEth     = 10
	erfTypeColorHashEth = 13
	erfTypeDSMColorEth  = 16
	erfTypeIPv4         = 22
	erfTypeIPv6         = 23
)

// erfPacket returns the packet an ERF record carries and its link type,
// or false for a record too short or of a type natdoc does not read.
func erfPacket(b []byte) ([]byte, layers.LinkType, bool) {
	const header = 16
	if len(b) < header {
		return nil, 0, false
	}
	typ, off := b[8], header
	for more := typ&0x80 != 0; more; off += 8 {
		if len(b) < off+8 {
			return nil, 0, false
		}
		more = b[off]&0x80 != 0
	}
	// The record length counts the header and any padding to its end; a
	// snap length may have cut the record shorter.
	end := min(len(b), int(binary.BigEndian.Uint16(b[10:12])))
	var link layers.LinkType
	switch typ & 0x7f {
	case erfTypeEth, erfTypeColorEth, erfTypeColorHashEth, erfTypeDSMColorEth:
		off += 2
		link = layers.LinkTypeEthernet
	case erfTypeIPv4, erfTypeIPv6:
		link = layers.LinkTypeRaw
	default:
		return nil, 0, false
	}
	if end < off {
		return nil, 0, false
	}
	return b[off:end], link, true
}

// decodeERF decodes the packet an ERF record carries; a record natdoc
// cannot read is an anomaly.
func (d *decoder) decodeERF(rec Record, frame uint64, emit func(*packet)) {
	inner, link, ok := erfPacket(rec.Data)
	if !ok {
		d.sink.anomaly("unreadable-erf-record", rec.Offset, frame, "an ERF record too short, or of a type other than Ethernet or IP")
		return
	}
	rec.WireLen -= len(rec.Data) - len(inner)
	rec.Data, rec.LinkType = inner, link
	d.decode(rec, frame, emit)
}
