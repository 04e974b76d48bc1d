package capture

import (
	"bytes"
	"encoding/binary"
	"testing"
)

// nflogRecord builds an NFLOG record around ip as libpcap writes it on a
// machine of byte order order: a prefix attribute (padded), then the
// payload attribute.
func nflogRecord(order binary.ByteOrder, ip []byte) []byte {
	b := []byte{2, 0, 0, 5} // AF_INET, version 0, group 5
	tlv := func(typ uint16, v []byte) {
		var h [4]byte
		order.PutUint16(h[0:2], uint16(4+len(v)))
		order.PutUint16(h[2:4], typ)
		b = append(append(b, h[:]...), v...)
		for len(b)%4 != 0 {
			b = append(b, 0)
		}
	}
	tlv(10, []byte("sip\x00\x00")) // NFULA_PREFIX, 9 bytes padded to 12
	tlv(nflogPayload, ip)
	return b
}

func TestNFLOGPacket(t *testing.T) {
	ip := seedCapture(t)[40+14 : 40+214]
	for name, order := range map[string]binary.ByteOrder{"little-endian": binary.LittleEndian, "big-endian": binary.BigEndian} {
		got, ok := nflogPacket(nflogRecord(order, ip))
		if !ok || !bytes.Equal(got, ip) {
			t.Errorf("%s: %v, %d bytes; want the %d-byte IP packet", name, ok, len(got), len(ip))
		}
	}
	rec := nflogRecord(binary.LittleEndian, ip)
	for name, b := range map[string][]byte{
		"cut inside the payload":  rec[:40],
		"not IPv4 or IPv6":        append([]byte{7}, rec[1:]...),
		"no payload attribute":    rec[:4+12],
		"header only":             rec[:4],
		"a zero-length attribute": append(append([]byte(nil), rec[:4]...), 0, 0, 0, 0),
	} {
		if got, ok := nflogPacket(b); ok {
			t.Errorf("%s: took %d bytes for an IP packet", name, len(got))
		}
	}
}
