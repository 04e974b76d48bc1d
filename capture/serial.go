package capture

import (
	"encoding/binary"

	"github.com/gopacket/gopacket/layers"
)

// Captures of a router's serial WAN link (a T1/E1 carrying a SIP trunk,
// captured by the router itself) frame each IP packet in Cisco HDLC or in
// PPP over HDLC: a few bytes naming the protocol, then the packet. These
// link types carry nothing else natdoc reads, so the header is skipped
// and the packet decoded as raw IP.

const (
	linkTypePPPSerial layers.LinkType = 50  // LINKTYPE_PPP_HDLC: PPP in HDLC framing
	linkTypeCiscoHDLC layers.LinkType = 104 // LINKTYPE_C_HDLC
)

// serialIP returns the IP packet of a serial link's frame, or false when
// the frame carries another protocol (keepalives, LCP) or is cut short.
func serialIP(lt layers.LinkType, b []byte) ([]byte, bool) {
	if len(b) >= 4 && (b[0] == 0x0f || b[0] == 0x8f) && b[1] == 0 && lt != layers.LinkTypePPP {
		// Cisco HDLC: address (unicast or broadcast), control, EtherType.
		switch layers.EthernetType(binary.BigEndian.Uint16(b[2:4])) {
		case layers.EthernetTypeIPv4, layers.EthernetTypeIPv6:
			return b[4:], true
		}
		return nil, false
	}
	if lt == linkTypeCiscoHDLC {
		return nil, false
	}
	// PPP (RFC 1661): HDLC address and control, which PPP may omit
	// (RFC 1662 §3.2), then the protocol, which it may compress to one
	// byte (RFC 1661 §6.5).
	if len(b) >= 2 && b[0] == 0xff && b[1] == 0x03 {
		b = b[2:]
	}
	switch {
	case len(b) >= 1 && (b[0] == 0x21 || b[0] == 0x57):
		return b[1:], true
	case len(b) >= 2 && b[0] == 0 && (b[1] == 0x21 || b[1] == 0x57):
		return b[2:], true
	}
	return nil, false
}

// decodeSerial decodes the IP packet of a serial link's frame; a frame of
// another protocol is none of natdoc's business, as ARP on Ethernet.
func (d *decoder) decodeSerial(rec Record, frame uint64, emit func(*packet)) {
	ip, ok := serialIP(rec.LinkType, rec.Data)
	if !ok {
		return
	}
	rec.WireLen -= len(rec.Data) - len(ip)
	rec.Data, rec.LinkType = ip, layers.LinkTypeRaw
	d.decode(rec, frame, emit)
}
