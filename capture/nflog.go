package capture

import (
	"encoding/binary"

	"github.com/gopacket/gopacket/layers"
)

// A Linux firewall can hand packets its rules match to user space over
// NFLOG (an nftables `log group N` or iptables NFLOG rule), and
// `tcpdump -i nflog:N` writes them with link type 239: a 4-byte header
// (address family, version 0, the group) and type-length-value
// attributes, one of which (NFULA_PAYLOAD) is the IP packet. gopacket has
// no decoder for it; this reads the payload out and decodes it as raw IP.

// linkTypeNFLOG is LINKTYPE_NFLOG.
const linkTypeNFLOG layers.LinkType = 239

// nflogPayload is the NFULA_PAYLOAD attribute type.
const nflogPayload = 9

// nflogPacket returns the IP packet of an NFLOG record, or false when the
// record holds none. The attributes' length and type are in the byte order
// of the machine that captured, as libpcap writes them; the address
// family byte tells which: a length that runs past the record in one order
// is read in the other.
func nflogPacket(b []byte) ([]byte, bool) {
	if len(b) < 4 || b[1] != 0 || (b[0] != 2 && b[0] != 10) { // AF_INET, AF_INET6
		return nil, false
	}
	for _, order := range []binary.ByteOrder{binary.LittleEndian, binary.BigEndian} {
		if ip, ok := nflogAttribute(b[4:], order, nflogPayload); ok {
			return ip, true
		}
	}
	return nil, false
}

// nflogAttribute finds the attribute of type want in tlvs read in order,
// each length covering its 4-byte header and padded to 4 bytes.
func nflogAttribute(tlvs []byte, order binary.ByteOrder, want uint16) ([]byte, bool) {
	for len(tlvs) >= 4 {
		n, typ := int(order.Uint16(tlvs[0:2])), order.Uint16(tlvs[2:4])
		if n < 4 || n > len(tlvs) {
			return nil, false
		}
		if typ == want {
			return tlvs[4:n], n > 4
		}
		n = (n + 3) &^ 3
		if n > len(tlvs) {
			return nil, false
		}
		tlvs = tlvs[n:]
	}
	return nil, false
}

// decodeNFLOG decodes the IP packet an NFLOG record carries; a record with
// none (a malformed one) is an anomaly.
func (d *decoder) decodeNFLOG(rec Record, frame uint64, emit func(*packet)) {
	ip, ok := nflogPacket(rec.Data)
	if !ok {
		d.sink.anomaly("malformed-nflog", rec.Offset, frame, "NFLOG record without an IP packet")
		return
	}
	rec.WireLen -= len(rec.Data) - len(ip)
	rec.Data, rec.LinkType = ip, layers.LinkTypeRaw
	d.decode(rec, frame, emit)
}
