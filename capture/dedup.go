package capture

import (
	"encoding/binary"
	"hash/maphash"
	"time"
)

// The same packet captured twice (a SPAN port copying both directions of a
// switch, ERSPAN beside the plain copy, overlapping captures or one file
// given twice, merged by time) is counted once. RTP copies are caught by
// their stream (the same sequence number and timestamp as the packet
// before: rtpFlow.isDuplicate); every other packet by a hash of its
// addresses, IP identification and payload seen within dupWindow. A SIP
// retransmission by timer comes at least T1 (500 ms, RFC 3261 §17.1.1.1)
// after the original, far outside the window, and is kept. A UAS also
// resends its 2xx on each resent INVITE (§13.3.1.4), which can fall a few
// milliseconds from its timer's resend: the copies of one packet share its
// IPv4 identification, and such a second send mostly has another one, so
// it is kept too. (RFC 6864 lets a sender write 0 in every unfragmented
// datagram, as Linux does on unconnected sockets: equal identifications
// prove nothing, and two packets with them still count as copies.)

// dupWindow is how far apart two copies of one packet may be captured.
const dupWindow = 50 * time.Millisecond

// dedup remembers the recent non-RTP packets by hash.
type dedup struct {
	seed    maphash.Seed
	seen    map[uint64]int64 // hash → capture time, Unix nanoseconds
	pruneAt int64
}

func newDedup() dedup {
	return dedup{seed: maphash.MakeSeed(), seen: map[uint64]int64{}}
}

// duplicate says whether pkt is a copy of a packet seen within dupWindow,
// and remembers it. A TCP segment without payload is never one: a host
// sends the same ACK twice (duplicate ACKs, RFC 5681), and those segments
// carry nothing analysed but their flags.
func (d *dedup) duplicate(pkt *packet) bool {
	if pkt.Proto == protoTCP && len(pkt.Payload) == 0 {
		return false
	}
	var h maphash.Hash
	h.SetSeed(d.seed)
	var hdr [44]byte
	src, dst := pkt.Src.Addr().As16(), pkt.Dst.Addr().As16()
	copy(hdr[0:], src[:])
	copy(hdr[16:], dst[:])
	binary.BigEndian.PutUint16(hdr[32:], pkt.Src.Port())
	binary.BigEndian.PutUint16(hdr[34:], pkt.Dst.Port())
	binary.BigEndian.PutUint32(hdr[36:], pkt.Seq)
	binary.BigEndian.PutUint32(hdr[40:], pkt.IPID)
	h.Write(hdr[:])
	h.WriteByte(pkt.Proto)
	h.WriteByte(packetFlags(pkt))
	h.Write(pkt.Payload)
	sum := h.Sum64()
	at := pkt.Time.UnixNano()
	if at >= d.pruneAt {
		for k, t := range d.seen {
			if at-t > int64(dupWindow) {
				delete(d.seen, k)
			}
		}
		d.pruneAt = at + int64(time.Second)
	}
	if t, ok := d.seen[sum]; ok && at-t <= int64(dupWindow) && t-at <= int64(dupWindow) {
		return true
	}
	d.seen[sum] = at
	return false
}
