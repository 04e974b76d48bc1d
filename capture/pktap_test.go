package capture

import (
	"bytes"
	"encoding/binary"
	"testing"

	"github.com/gopacket/gopacket/layers"
)

// pktapRecord puts frame (of link type dlt) behind a PKTAP header of
// headerLen bytes, as macOS writes it: interface en0, the sending process.
func pktapRecord(frame []byte, dlt uint32, headerLen int) []byte {
	h := make([]byte, headerLen)
	binary.LittleEndian.PutUint32(h[0:4], uint32(headerLen))
	binary.LittleEndian.PutUint32(h[4:8], pktapRecordPacket)
	binary.LittleEndian.PutUint32(h[8:12], dlt)
	copy(h[12:36], "en0")
	copy(h[56:73], "Bria") // pth_comm
	return append(h, frame...)
}

// TestPKTAPPacket: the packet behind the header, by its own link type, for
// the first header and a longer later one; nothing for a header that is
// cut, a record type other than a packet, or PKTAP inside PKTAP.
func TestPKTAPPacket(t *testing.T) {
	frame := seedCapture(t)[40 : 40+214]
	for _, n := range []int{pktapMinHeader, 156} {
		got, link, ok := pktapPacket(pktapRecord(frame, 1, n))
		if !ok || link != layers.LinkTypeEthernet || !bytes.Equal(got, frame) {
			t.Errorf("%d-byte header: %v %v, %d bytes; want the %d-byte Ethernet frame", n, ok, link, len(got), len(frame))
		}
	}
	rec := pktapRecord(frame, 1, pktapMinHeader)
	notPacket := append([]byte(nil), rec...)
	notPacket[4] = 0 // PKT_REC_NONE
	longer := append([]byte(nil), rec...)
	binary.LittleEndian.PutUint32(longer, uint32(len(rec)+1))
	shorter := append([]byte(nil), rec...)
	binary.LittleEndian.PutUint32(shorter, 40)
	for name, b := range map[string][]byte{
		"cut inside the header":           rec[:60],
		"a header longer than the record": longer,
		"a header shorter than defined":   shorter,
		"no packet record":                notPacket,
		"PKTAP inside PKTAP":              pktapRecord(rec, 258, pktapMinHeader),
		"an unknown link type inside":     pktapRecord(frame, 105, pktapMinHeader), // 802.11
	} {
		if got, _, ok := pktapPacket(b); ok {
			t.Errorf("%s: took %d bytes for a packet", name, len(got))
		}
	}
}
